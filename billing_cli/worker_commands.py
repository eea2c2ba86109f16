"""`billing worker` and `billing events rejected|replay`."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from datetime import timedelta

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.ledger.refund_requests import flag_unmatched
from billing_core.usage import rejections
from billing_core.usage.replay import replay_rejected_usage
from workers.broker import KINDS
from workers.process import WorkerPlan, child_command, run_worker, split, supervise


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    worker = sub.add_parser("worker", help="run Dramatiq workers on RabbitMQ (needs BROKER_URL)")
    worker.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    worker.add_argument(
        "--threads",
        type=int,
        default=64,
        help="actor threads; they mostly wait for group commits, and more in flight means bigger commits",
    )
    worker.add_argument("--queues", help="comma-separated subset of: " + ",".join(KINDS))
    worker.add_argument(
        "--partitions",
        help="usage partitions these processes consume first, e.g. 0-3 or 0,2,4 (default all); "
        "they stand by for the others",
    )
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


def parse_partitions(text: str | None, count: int) -> list[int]:
    """`0-3,6` -> [0, 1, 2, 3, 6]; every partition when unset. ValueError names what is wrong."""
    if text is None:
        return list(range(count))
    chosen: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not 0 <= first <= last < count:
            raise ValueError(f"{part!r}: partitions are 0 to {count - 1} (USAGE_PARTITIONS={count})")
        chosen.update(range(first, last + 1))
    if not chosen:
        raise ValueError("no partition given")
    return sorted(chosen)


def worker_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    settings = ctx.settings
    if not settings.broker_url:
        print("error: billing worker needs BROKER_URL (the embedded run is `billing up`)", file=sys.stderr)
        return 2
    kinds = tuple(q.strip() for q in (args.queues or ",".join(KINDS)).split(",") if q.strip())
    unknown = set(kinds) - set(KINDS)
    if unknown:
        print(f"error: unknown queue(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    try:
        preferred = parse_partitions(args.partitions, settings.usage_partitions)
    except ValueError as error:
        print(f"error: --partitions {error}", file=sys.stderr)
        return 2
    if args.processes < 1 or args.threads < 1:
        print("error: --processes and --threads must be at least 1", file=sys.stderr)
        return 2
    plans = [WorkerPlan(kinds, args.threads, share) for share in split(preferred, args.processes)]
    if len(plans) == 1:
        return run_worker(settings, plans[0])
    return supervise(settings, plans, child_command())


def events_rejected(ctx: CommandContext, args: argparse.Namespace) -> int:
    # Failure reports still waiting for their debit after the configured wait become visible here.
    wait = timedelta(seconds=ctx.settings.unmatched_refund_wait_s)
    ctx.write(lambda c: flag_unmatched(c, utcnow(), wait))
    status = None if args.all else "pending"
    rows = ctx.read(lambda c: rejections.list_rejected(c, reason=args.reason, status=status))
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
    result = ctx.audited_write(
        "events.replay",
        lambda c: replay_rejected_usage(c, utcnow(), reason=args.reason),
        details=lambda r: {"reason": args.reason, "replayed": r.replayed, "charged": r.charged},
    )
    print(
        f"replayed {result.replayed} rejected event(s): {result.charged} charged, "
        f"{result.still_rejected} still rejected"
    )
    return 0
