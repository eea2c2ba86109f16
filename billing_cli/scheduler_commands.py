"""`billing scheduler [--once] [--now T] [--interval S]`: the sweeps of workers/scheduler.py, as a
process. With BROKER_URL the due grants and stale webhooks go to their queues."""

from __future__ import annotations

import argparse
import time

from billing_cli.context import CommandContext, parse_time, utcnow
from workers.scheduler import senders, sweep_once


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    scheduler = sub.add_parser("scheduler", help="grant due subscription credits and expire due grants")
    scheduler.add_argument("--once", action="store_true", help="run one sweep and exit")
    scheduler.add_argument("--now", type=parse_time, help="the sweep's time (ISO 8601; default: now)")
    scheduler.add_argument("--interval", type=float, default=300.0, help="seconds between sweeps")
    scheduler.set_defaults(run=scheduler_cmd)


def scheduler_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    to = senders(ctx.settings, ctx.engine) if ctx.settings.broker_url else None
    while True:
        now = args.now or utcnow() if args.once else utcnow()
        print(sweep_once(ctx.engine, now, to), flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)  # pragma: no cover - runs until stopped
