"""`billing up` runs the system in one process; `billing demo` shows it charging a stream of events."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Connection

from api.metrics import ApiMetrics
from billing_cli.api_commands import start_api_server, start_server
from billing_cli.context import CommandContext, utcnow
from billing_cli.demo import run_demo
from billing_cli.processes import start_workers
from billing_cli.seed_prices import SEED_EFFECTIVE_AT, seed_model_prices, seed_tool_prices
from billing_core.db.engine import stop_embedded_database
from billing_core.pricing.catalog import add_model_prices, add_tool_price
from billing_core.settings import Settings
from migrations import runner
from telemetry.exposition import serve_metrics
from telemetry.http import HttpMetrics
from webhooks.app import create_app as create_webhooks_app
from webhooks.metrics import WebhookMetrics
from workers.backlog import BacklogCollector
from workers.boot import KINDS
from workers.metrics import SchedulerMetrics, WorkerMetrics
from workers.process import ShutdownSignal
from workers.scheduler import Senders, SweeperThread


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser("up", help="migrate, seed defaults, and run workers (embedded services by default)")
    up.add_argument("--threads", type=int, default=4, help="worker threads")
    up.add_argument("--host", default="127.0.0.1", help="address of the HTTP API")
    up.add_argument("--port", type=int, default=8000, help="port of the HTTP API (0: any free port)")
    up.add_argument("--webhooks-port", type=int, default=8001, help="port of the webhook receiver (0: any)")
    up.add_argument("--exit-after", type=float, help=argparse.SUPPRESS)  # for tests: stop after N seconds
    up.set_defaults(run=up_cmd)
    demo = sub.add_parser(
        "demo", help="create demo-org with credits and send it a realistic stream of events"
    )
    demo.add_argument("--events", type=int, default=200)
    demo.add_argument("--org", default="demo-org")
    demo.set_defaults(run=demo_cmd)
    down = sub.add_parser("down", help="stop the embedded PostgreSQL that `billing up` left running")
    down.set_defaults(run=down_cmd)


def prepare(ctx: CommandContext) -> None:
    """Migrate and seed default prices; both are no-ops when already done."""
    runner.upgrade(ctx.engine)
    usd, markup = ctx.settings.usd_per_credit, ctx.settings.price_markup
    models = seed_model_prices(usd, markup, utcnow().date())
    tools = seed_tool_prices(usd, markup)

    def seed(c: Connection) -> None:
        add_model_prices(c, models)
        for tool, price in tools.items():
            add_tool_price(c, tool, price, SEED_EFFECTIVE_AT)

    ctx.write(seed)


def describe(ctx: CommandContext) -> tuple[str, str]:
    s = ctx.settings
    database = "DATABASE_URL" if s.database_url else f"embedded PostgreSQL under {s.data_dir}/pgdata"
    broker = "RabbitMQ at BROKER_URL" if s.broker_url else "in-process broker"
    return database, broker


def embedded_admin_token(ctx: CommandContext) -> Settings:
    """Without ADMIN_TOKEN, the embedded run makes one and keeps it in a private file (never logged)."""
    if ctx.settings.admin_token is not None and ctx.settings.admin_token.get_secret_value():
        return ctx.settings
    path = Path(ctx.settings.data_dir) / "admin_token"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return ctx.settings.model_copy(update={"admin_token": SecretStr(path.read_text().strip())})


def up_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    prepare(ctx)
    database, broker = describe(ctx)
    settings = embedded_admin_token(ctx)
    registry = CollectorRegistry()  # one /metrics for every part of this process
    http = HttpMetrics(registry)
    workers = start_workers(settings, ctx.engine, threads=args.threads, metrics=WorkerMetrics(registry))
    api = start_api_server(
        settings, ctx.engine, host=args.host, port=args.port, metrics=ApiMetrics(registry, http)
    )
    actors = workers.actors
    to = Senders(actors.grant_due_credits.send, actors.process_webhook.send, actors.charge_recharge.send)
    receiver = create_webhooks_app(
        settings, ctx.engine, enqueue=to.webhook, metrics=WebhookMetrics(registry, http)
    )
    hooks = start_server(receiver, host=args.host, port=args.webhooks_port)
    sweeper = SweeperThread(ctx.engine, to, interval=60.0, metrics=SchedulerMetrics(registry)).start()
    dispatcher = workers.notification_dispatcher()
    registry.register(BacklogCollector(settings, ctx.engine))
    metrics_server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    print(f"database: {database} (migrated; default prices seeded)")
    print(f"workers:  {args.threads} threads on {broker}, queues {', '.join(KINDS)}")
    print("scheduler: a grant sweep every minute, grants on the grants queue")
    print(f"webhooks: http://{hooks.host}:{hooks.port}/webhooks/stripe and /webhooks/recurrente")
    print(f"api:      http://{api.host}:{api.port} (docs at /docs)", end="")
    print("" if ctx.settings.admin_token else f"; admin token in {settings.data_dir}/admin_token")
    console = f"http://{api.host}:{api.port}/console/"
    print(f"console:  {console} (sign in with an organization API key, or the admin token)")
    print("ready. In another terminal: .venv/bin/billing demo && .venv/bin/billing balance demo-org")
    print("press Ctrl-C to stop", flush=True)
    ShutdownSignal().wait(args.exit_after)
    sweeper.stop()
    dispatcher.stop()
    hooks.stop()
    api.stop()
    workers.stop()
    if metrics_server is not None:
        metrics_server.stop()
    if settings.database_url:
        print("stopped")
    else:
        print(
            f"stopped; the embedded PostgreSQL under {settings.data_dir}/pgdata keeps running so that "
            "later commands find it: `billing down` stops it"
        )
    return 0


def demo_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    prepare(ctx)
    return run_demo(ctx, org=args.org, count=args.events)


def down_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    if ctx.settings.database_url:
        print("DATABASE_URL is set: there is no embedded PostgreSQL to stop")
        return 0
    where = f"{ctx.settings.data_dir}/pgdata"
    stopped = stop_embedded_database(ctx.settings.data_dir)
    print(
        f"stopped the embedded PostgreSQL under {where}"
        if stopped
        else f"no embedded PostgreSQL runs under {where}"
    )
    return 0
