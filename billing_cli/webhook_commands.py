"""`billing webhooks`: serve the payment-provider receiver; `inbox` lists deliveries; `replay ID`
applies one again. Also the inbox sweep that the scheduler runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta

import dramatiq
from sqlalchemy import Engine
from waitress.server import create_server

from billing_cli.api_commands import serve_until_interrupted
from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.db.uow import committed
from billing_core.errors import NotYet
from billing_core.provider_events.inbox import STATUSES, list_rows, stale_pending
from billing_core.provider_events.processing import process_inbox_row
from billing_core.settings import Settings
from webhooks.app import create_app
from workers.actors import WEBHOOK_ACTOR
from workers.broker import build_broker

STALE_AFTER = timedelta(minutes=5)
Enqueue = Callable[[int], object]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hooks = sub.add_parser("webhooks", help="serve the Stripe and Recurrente webhook receiver")
    hooks.add_argument("--host", default="127.0.0.1")
    hooks.add_argument("--port", type=int, default=8001)
    hooks.add_argument("--threads", type=int, default=8)
    hooks.set_defaults(run=serve)
    actions = hooks.add_subparsers(dest="webhooks_cmd")
    inbox = actions.add_parser("inbox", help="list received deliveries, newest first")
    inbox.add_argument("--status", choices=STATUSES)
    inbox.add_argument("--limit", type=int, default=50)
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(run=list_inbox)
    replay = actions.add_parser("replay", help="apply one stored delivery (if not applied yet)")
    replay.add_argument("inbox_id", type=int)
    replay.set_defaults(run=replay_row)


def queue_enqueuer(settings: Settings) -> Enqueue:
    """Send inbox row ids to the webhooks actor on the broker of BROKER_URL."""
    broker = build_broker(settings)
    queue_name = f"{settings.queue_prefix}webhooks"
    broker.declare_queue(queue_name)

    def enqueue(inbox_id: int) -> object:
        message: dramatiq.Message[object] = dramatiq.Message(
            queue_name=queue_name, actor_name=WEBHOOK_ACTOR, args=(inbox_id,), kwargs={}, options={}
        )
        return broker.enqueue(message)

    return enqueue


def process_now(engine: Engine, inbox_id: int, now: datetime) -> str:
    """Apply one row in this process; a row that must wait for another event stays pending."""

    try:
        return committed(engine, lambda c: process_inbox_row(c, inbox_id, now))
    except NotYet:
        return "pending"


def sweep_inbox(engine: Engine, now: datetime, enqueue: Enqueue | None) -> int:
    """Rows still pending minutes after they arrived (a crash between commit and enqueue, or an
    event that waited for another): hand them to the queue again, or apply them here."""
    with engine.connect() as connection:
        stale = stale_pending(connection, now, STALE_AFTER)
    for inbox_id in stale:
        if enqueue is not None:
            enqueue(inbox_id)
        else:
            process_now(engine, inbox_id, now)
    return len(stale)


def serve(ctx: CommandContext, args: argparse.Namespace) -> int:
    enqueue = queue_enqueuer(ctx.settings) if ctx.settings.broker_url else None
    app = create_app(ctx.settings, ctx.engine, enqueue=enqueue)
    server = create_server(app, host=args.host, port=args.port, threads=args.threads)
    where = f"http://{args.host}:{server.effective_port}"
    print(f"webhooks on {where}/webhooks/stripe and {where}/webhooks/recurrente", flush=True)
    return serve_until_interrupted(server)


def list_inbox(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = ctx.read(lambda c: list_rows(c, status=args.status, limit=args.limit))
    if args.json:
        print(to_json([asdict(r) for r in rows]))
    else:
        print(
            table(
                ["id", "provider", "external_id", "type", "status", "received_at"],
                [(r.id, r.provider, r.external_id, r.event_type, r.status, r.received_at) for r in rows],
            )
        )
    return 0


def replay_row(ctx: CommandContext, args: argparse.Namespace) -> int:
    status = process_now(ctx.engine, args.inbox_id, utcnow())
    print(f"inbox row {args.inbox_id}: {status}")
    return 0 if status in ("processed", "ignored") else 1
