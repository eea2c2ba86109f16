"""`billing webhooks`: serve the payment-provider receiver; `inbox` lists deliveries (a rejected one
with its reason); `replay ID` (or `replay --rejected`) applies deliveries again."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from functools import partial

from waitress.server import create_server

from billing_cli.api_commands import serve_until_interrupted
from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.provider_events.inbox import STATUSES, get_row, list_rows
from telemetry.exposition import serve_metrics
from webhooks.app import create_app
from webhooks.metrics import WebhookMetrics
from workers.scheduler import process_now, senders


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
    replay = actions.add_parser(
        "replay", help="apply one stored delivery (if not applied yet), or every rejected one"
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("inbox_id", type=int, nargs="?")
    which.add_argument(
        "--rejected", action="store_true", help="every rejected delivery (e.g. after fixing the catalog)"
    )
    replay.set_defaults(run=replay_row)


def serve(ctx: CommandContext, args: argparse.Namespace) -> int:
    settings = ctx.settings
    enqueue = senders(settings, ctx.engine).webhook if settings.broker_url else None
    metrics = WebhookMetrics()
    app = create_app(settings, ctx.engine, enqueue=enqueue, metrics=metrics)
    server = create_server(app, host=args.host, port=args.port, threads=args.threads)
    where = f"http://{args.host}:{server.effective_port}"
    print(f"webhooks on {where}/webhooks/stripe and {where}/webhooks/recurrente", flush=True)
    metrics_server = serve_metrics(metrics.registry, settings.metrics_host, settings.metrics_port)
    try:
        return serve_until_interrupted(server)
    finally:
        if metrics_server is not None:
            metrics_server.stop()


def list_inbox(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = ctx.read(lambda c: list_rows(c, status=args.status, limit=args.limit))
    if args.json:
        print(to_json([asdict(r) for r in rows]))
    else:
        print(
            table(
                ["id", "provider", "external_id", "type", "status", "received_at", "reason"],
                [
                    (
                        r.id,
                        r.provider,
                        r.external_id,
                        r.event_type,
                        r.status,
                        r.received_at,
                        f"{r.reason}: {r.error}"[:120] if r.reason else None,
                    )
                    for r in rows
                ],
            )
        )
    return 0


def replay_row(ctx: CommandContext, args: argparse.Namespace) -> int:
    """Exit 0 when every row ends processed or ignored; 1 when one still waits or is still rejected
    (its reason printed)."""
    if args.rejected:
        ids = [r.id for r in ctx.read(lambda c: list_rows(c, status="rejected", limit=10_000))]
    else:
        ids = [args.inbox_id]
    done = True
    for inbox_id in sorted(ids):
        status = process_now(ctx.engine, inbox_id, utcnow(), ctx.actor)
        if status == "rejected":
            row = ctx.read(partial(get_row, row_id=inbox_id))
            status += f" ({row.reason}: {row.error})" if row is not None else ""
        print(f"inbox row {inbox_id}: {status}")
        done = done and status in ("processed", "ignored")
    return 0 if done else 1
