"""The HTTP API for admins and the platform: `create_app(settings, engine, payments)`.

The engine and the payment-provider adapters are created here (or passed in), never at import
time. Every error is the JSON body of api/errors.py; the OpenAPI document is at /openapi.json and
its docs page at /docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apiflask import APIFlask
from flask import request
from sqlalchemy import Engine

from api import (
    health,
    views_admin,
    views_audit,
    views_console_sessions,
    views_ingest,
    views_notifications,
    views_org,
    views_purchases,
    views_service_keys,
    views_spend,
    views_subscription,
)
from api.console import bp as console_bp
from api.errors import ERROR_SCHEMA, api_error, register_error_handlers
from api.metrics import ApiMetrics
from api.openapi import finish_spec
from api.ratelimit import FailureLimiter, RateLimiter, parse_networks
from api.runtime import EXTENSION, Runtime, release_at_teardown
from api.swagger_assets import serve_swagger_ui_locally
from billing_core.db.engine import make_engine
from billing_core.json_depth import MAX_DEPTH, too_deep
from billing_core.pricing.catalog import CatalogCache
from billing_core.settings import Settings, load_settings
from billing_core.subscriptions.payment_port import PaymentProvider
from billing_core.usage.charging import UsageCharger
from billing_core.usage.publishing import EventPublisher
from payments import build_providers
from telemetry.http import instrument

MAX_BODY_BYTES = 1024 * 1024

DESCRIPTION = """Credits of an AI-agent platform: balances, history, usage, metrics, check-balance,
subscriptions (checkout, billing portal, plan changes, cancel and resume), credit packs (checkout,
purchases, auto-recharge).

Authenticate with `Authorization: Bearer <token>`: an admin key (its role decides what it may
call), the admin token (break-glass owner), an organization's API key, or a service key.
Credits are exact decimal strings with six decimals (`"-0.002350"`); send credits as decimal
strings or integers, never floats. Every error is `{"error": {"type", "message", "field"?}}`.
"""


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    payments: Mapping[str, PaymentProvider] | None = None,
    publisher: EventPublisher | None = None,
    metrics: ApiMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
) -> APIFlask:
    """`payments` maps a provider name (stripe, recurrente) to its adapter; by default, the adapters
    of the providers whose keys are set. An unconfigured provider answers 503. `publisher` is
    where `POST /v1/events` publishes when BROKER_URL is set (billing_cli passes a
    producers.Publisher); without BROKER_URL, events are charged in the request. `metrics`: where
    the app counts (default: a registry of its own). `clock`: the time requests act at (tests move
    it; default: now in UTC)."""
    settings = settings or load_settings()
    metrics = metrics or ApiMetrics()
    app = APIFlask("billing-api", title="Agent credit billing API", version="1.0", docs_path="/docs")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        VALIDATION_ERROR_STATUS_CODE=400,
        VALIDATION_ERROR_DESCRIPTION="Validation error (names the field)",
        VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA,
        HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
        AUTO_OPERATION_ID=True,
        AUTO_SERVERS=False,
        DESCRIPTION=DESCRIPTION,
        JSON_SORT_KEYS=False,
    )
    engine = engine or make_engine(settings, pool_size=16, pre_ping=False)
    catalogs = CatalogCache()
    app.extensions[EXTENSION] = Runtime(
        settings=settings,
        engine=engine,
        catalogs=catalogs,
        limiter=RateLimiter(settings.api_rate_limit_per_second, settings.api_rate_limit_burst),
        failures=FailureLimiter(settings.auth_failure_limit),
        proxies=parse_networks(settings.trusted_proxies),
        clock=clock or (lambda: datetime.now(UTC)),
        charger=UsageCharger(engine, catalogs),
        publisher=publisher,
        payments=dict(build_providers(settings) if payments is None else payments),
        metrics=metrics,
    )
    instrument(app, "api", metrics.http)
    register_error_handlers(app)
    release_at_teardown(app)
    serve_swagger_ui_locally(app)

    @app.before_request
    def _refuse_deep_json() -> None:
        # Before any parser (and before authentication): deep nesting would exhaust the recursion
        # limit. A compressed body is checked by the ingestion once inflated.
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if request.is_json and encoding in ("", "identity") and too_deep(request.get_data(cache=True)):
            message = f"JSON nested deeper than {MAX_DEPTH} levels"
            raise api_error(400, "validation_error", message, field="body")

    @app.before_request
    def _refuse_nul_bytes() -> None:
        # PostgreSQL text cannot hold NUL; such input is malformed whatever the endpoint.
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise api_error(400, "validation_error", "parameters cannot contain NUL bytes", field=name)
        if "\x00" in request.path:
            raise api_error(400, "validation_error", "the path cannot contain NUL bytes")
        # The event ingestion refuses NUL per event, naming the field (billing_core/usage/batch.py).
        if (
            request.path != views_ingest.PATH
            and request.is_json
            and _holds_nul(request.get_json(silent=True))
        ):
            raise api_error(400, "validation_error", "JSON strings cannot contain NUL characters")

    app.register_blueprint(health.bp)
    app.register_blueprint(views_org.bp)
    app.register_blueprint(views_admin.bp)
    app.register_blueprint(views_subscription.bp)
    app.register_blueprint(views_purchases.bp)
    app.register_blueprint(views_notifications.bp)
    app.register_blueprint(views_spend.bp)
    app.register_blueprint(views_service_keys.bp)
    app.register_blueprint(views_audit.bp)
    app.register_blueprint(views_console_sessions.bp)
    app.register_blueprint(views_ingest.bp)
    app.register_blueprint(console_bp)  # the billing console's web pages (not part of the OpenAPI document)

    @app.spec_processor
    def _finish(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
        if not isinstance(spec, dict):
            return spec
        operation = (views_ingest.PATH, "post")
        return finish_spec(
            spec,
            views_admin.IDEMPOTENT_CREATES,
            {operation: views_ingest.REQUEST_BODY},
            {operation: "Without a broker: every accepted event charged, with its outcome and cost"},
        )

    return app
