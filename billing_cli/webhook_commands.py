"""`billing webhooks`: serve the payment-provider receiver; `billing webhooks inbox`: list deliveries."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from waitress.server import create_server

from billing_cli.context import CommandContext
from billing_cli.output import table, to_json
from billing_core.webhook_inbox import STATUSES, list_rows
from webhooks.app import create_app


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


def serve(ctx: CommandContext, args: argparse.Namespace) -> int:
    server = create_server(
        create_app(ctx.settings, ctx.engine), host=args.host, port=args.port, threads=args.threads
    )
    print(
        f"webhooks on http://{args.host}:{server.effective_port}/webhooks/{{stripe,recurrente}}", flush=True
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def list_inbox(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = ctx.read(lambda uow: list_rows(uow.connection, status=args.status, limit=args.limit))
    if args.json:
        print(to_json([asdict(r) for r in rows]))
    else:
        print(
            table(
                ["id", "provider", "external_id", "type", "status", "received_at"],
                [
                    (r.id, r.provider, r.external_id, r.event_type, r.status, r.received_at.isoformat())
                    for r in rows
                ],
            )
        )
    return 0
