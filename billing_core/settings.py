"""Settings read from the environment once, by the entrypoint, at process start."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of every process. Secrets have no defaults; unset means "feature disabled"."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset means the embedded server under data_dir"
    )
    broker_url: str | None = Field(default=None, description="AMQP URL; unset means in-process")
    data_dir: str = Field(default=".billing", alias="BILLING_DATA_DIR")
    queue_prefix: str = Field(default="", alias="BILLING_QUEUE_PREFIX")
    admin_token: SecretStr | None = None
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    recurrente_public_key: SecretStr | None = None
    recurrente_secret_key: SecretStr | None = None
    recurrente_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = Field(
        default=None, alias="STRIPE_API_BASE", description="Stripe API URL; unset means Stripe's own"
    )
    recurrente_api_base: str | None = Field(
        default=None,
        alias="RECURRENTE_API_BASE",
        description="Recurrente API URL; unset means https://app.recurrente.com/api",
    )
    usd_per_credit: Decimal = Field(default=Decimal("0.01"), alias="BILLING_USD_PER_CREDIT")
    price_markup: Decimal = Field(default=Decimal("1.0"), alias="BILLING_PRICE_MARKUP")
    usage_partitions: int = Field(
        default=8,
        alias="USAGE_PARTITIONS",
        ge=1,
        le=1024,
        description="usage queues an organization's events are hashed over; fixed per deployment",
    )
    broker_queue_type: Literal["classic", "quorum"] = Field(
        default="classic", alias="BROKER_QUEUE_TYPE", description="quorum for a RabbitMQ cluster"
    )
    worker_standby_delay_s: float = Field(
        default=5.0,
        alias="BILLING_STANDBY_DELAY",
        ge=0,
        description="seconds before a worker subscribes, as a standby, to partitions it does not prefer",
    )
    dead_letter_interval_s: float = Field(
        default=5.0,
        alias="BILLING_DEAD_LETTER_INTERVAL",
        gt=0,
        description="how often a worker parks dead-lettered messages as rejected events",
    )
    notifications_allow_private: bool = Field(
        default=False,
        alias="BILLING_NOTIFICATIONS_ALLOW_PRIVATE",
        description="development and tests only: let notification endpoints be http:// or private addresses",
    )
    notification_disable_after_days: float = Field(
        default=3.0,
        alias="BILLING_NOTIFICATION_DISABLE_AFTER_DAYS",
        gt=0,
        description="an endpoint whose every delivery failed for this long is disabled",
    )
    notification_dispatch_interval_s: float = Field(
        default=1.0,
        alias="BILLING_NOTIFICATION_DISPATCH_INTERVAL",
        gt=0,
        description="how often a worker hands due notification deliveries to the queue",
    )
    webhook_retry_delay_ms: int = Field(
        default=30_000,
        alias="BILLING_WEBHOOK_RETRY_DELAY_MS",
        ge=1,
        description="how long a webhook event that needs another one first waits before it is tried again",
    )
    usage_batch_size: int = Field(default=500, alias="BILLING_USAGE_BATCH_SIZE", ge=1)
    database_timeout_s: float = Field(
        default=15.0,
        alias="BILLING_DATABASE_TIMEOUT",
        gt=0,
        description="how long a connection to PostgreSQL that stopped answering (a stalled network) is "
        "waited on: connecting, TCP keepalives, unacknowledged writes; then it fails and is replaced",
    )
    usage_lock_timeout_ms: int = Field(
        default=200,
        alias="BILLING_USAGE_LOCK_TIMEOUT_MS",
        ge=1,
        description="how long a usage commit waits for a balance row another transaction holds; then "
        "its messages are retried with backoff and the rest of the group commits without them",
    )
    poison_redeliveries: int = Field(default=5, alias="BILLING_POISON_REDELIVERIES", ge=1)
    unmatched_refund_wait_s: int = Field(default=3600, alias="BILLING_UNMATCHED_REFUND_WAIT", ge=0)
    api_rate_limit_per_second: float = Field(
        default=50.0, alias="BILLING_API_RATE_LIMIT", gt=0, description="API requests per second per token"
    )
    api_rate_limit_burst: int = Field(
        default=100, alias="BILLING_API_RATE_BURST", ge=1, description="API requests a token may burst"
    )
    metrics_port: int | None = Field(
        default=None,
        alias="BILLING_METRICS_PORT",
        ge=0,
        le=65535,
        description="port of the process's /metrics side server; unset: no metrics server",
    )
    metrics_host: str = Field(default="127.0.0.1", alias="BILLING_METRICS_HOST")
    log_format: Literal["json", "text"] | None = Field(
        default=None, alias="LOG_FORMAT", description="unset: text on a terminal, JSON otherwise"
    )
    console_secure_cookie: bool = Field(
        default=True,
        description="with PUBLIC_URL unset: mark the console's cookies Secure (localhost accepts it)",
    )
    console_session_idle_minutes: float = Field(
        default=30, gt=0, description="a console session unused this long has ended"
    )
    console_session_max_hours: float = Field(
        default=8, gt=0, description="a console session ends this long after sign-in, however used"
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#@\\]+/?$",
        description="the public base URL of the API and console (https://billing.example.com); unset: "
        "development, the console's links use the request's host",
    )
    allowed_redirect_hosts: str = Field(
        default="",
        description="comma-separated hosts that success_url, cancel_url and return_url may name "
        "(besides PUBLIC_URL's host)",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "is believed; unset: the client is the TCP peer",
    )
    auth_failure_limit: int = Field(
        default=20,
        alias="BILLING_AUTH_FAILURE_LIMIT",
        ge=1,
        description="failed authentications per client address and minute before it gets 429",
    )


def load_settings() -> Settings:
    """Read the environment now; call from an entrypoint, never at import time."""
    return Settings()
