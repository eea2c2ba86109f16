"""`billing worker` and `billing events rejected|replay`."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from datetime import timedelta

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core import rejections
from billing_core.refund_requests import flag_unmatched
from billing_core.replay import replay_rejected_usage

QUEUE_NAMES = ("usage", "refunds", "grants", "webhooks")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    worker = sub.add_parser("worker", help="run Dramatiq workers on RabbitMQ (needs BROKER_URL)")
    worker.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    worker.add_argument(
        "--threads",
        type=int,
        default=64,
        help="actor threads; they mostly wait for group commits, and more in flight means bigger commits",
    )
    worker.add_argument("--queues", help="comma-separated subset of: " + ",".join(QUEUE_NAMES))
    worker.set_defaults(run=worker_cmd)

    events = sub.add_parser("events", help="rejected events").add_subparsers(dest="events_cmd", required=True)
    rejected = events.add_parser("rejected", help="list events that could not be applied, with reasons")
    rejected.add_argument("--reason", help="e.g. malformed, unknown_model, unknown_organization, conflict")
    rejected.add_argument("--all", action="store_true", help="include replayed ones")
    rejected.add_argument("--json", action="store_true")
    rejected.set_defaults(run=events_rejected)
    replay = events.add_parser("replay", help="charge pending rejected usage events again (at most once)")
    replay.add_argument("--reason")
    replay.set_defaults(run=events_replay)


def worker_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    if not ctx.settings.broker_url:
        print("error: billing worker needs BROKER_URL (the embedded run is `billing up`)", file=sys.stderr)
        return 2
    queues = [q.strip() for q in (args.queues or ",".join(QUEUE_NAMES)).split(",") if q.strip()]
    unknown = set(queues) - set(QUEUE_NAMES)
    if unknown:
        print(f"error: unknown queue(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    prefixed = [f"{ctx.settings.queue_prefix}{q}" for q in queues]
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.app",
        "--processes",
        str(args.processes),
        "--threads",
        str(args.threads),
        "--queues",
        *prefixed,
    ]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover - execv does not return


def events_rejected(ctx: CommandContext, args: argparse.Namespace) -> int:
    # Failure reports still waiting for their debit after the configured wait become visible here.
    wait = timedelta(seconds=ctx.settings.unmatched_refund_wait_s)
    ctx.write(lambda uow: flag_unmatched(uow.connection, utcnow(), wait))
    status = None if args.all else "pending"
    rows = ctx.read(lambda uow: rejections.list_rejected(uow.connection, reason=args.reason, status=status))
    if args.json:
        print(to_json([asdict(r) for r in rows]))
    else:
        print(
            table(
                ["id", "kind", "reason", "event_id", "organization", "status", "detail"],
                [
                    (r.id, r.kind, r.reason, r.event_id, r.organization_id, r.status, r.detail[:80])
                    for r in rows
                ],
            )
        )
    return 0


def events_replay(ctx: CommandContext, args: argparse.Namespace) -> int:
    result = ctx.write(lambda uow: replay_rejected_usage(uow.connection, utcnow(), reason=args.reason))
    print(
        f"replayed {result.replayed} rejected event(s): {result.charged} charged, "
        f"{result.still_rejected} still rejected"
    )
    return 0
