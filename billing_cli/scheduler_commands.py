"""`billing scheduler [--once] [--now T] [--interval S]`: the sweeps of workers/scheduler.py, as a
process. With BROKER_URL the due grants, stale webhooks and waiting auto-recharges go to their
queues; without it they are applied here (auto-recharges through the configured providers)."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta

from billing_cli.context import CommandContext, parse_time, utcnow
from payments import build_providers
from telemetry.exposition import serve_metrics
from workers.backlog import BacklogCollector
from workers.metrics import SchedulerMetrics
from workers.process import ShutdownSignal
from workers.scheduler import senders, sweep_once

log = logging.getLogger("billing.scheduler")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    scheduler = sub.add_parser("scheduler", help="grant due subscription credits and expire due grants")
    scheduler.add_argument("--once", action="store_true", help="run one sweep and exit")
    scheduler.add_argument(
        "--now",
        type=parse_time,
        help="the first sweep's time (ISO 8601; default: now); later sweeps move on from it with the clock",
    )
    scheduler.add_argument("--interval", type=float, default=300.0, help="seconds between sweeps")
    scheduler.set_defaults(run=scheduler_cmd)


def scheduler_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    to = senders(ctx.settings, ctx.engine) if ctx.settings.broker_url else None
    payments = build_providers(ctx.settings)
    if args.once:
        print(sweep_once(ctx.engine, args.now or utcnow(), to, payments), flush=True)
        return 0
    # The long-running scheduler also serves the deployment's backlog gauges (one per deployment).
    metrics = SchedulerMetrics()
    metrics.registry.register(BacklogCollector(ctx.settings, ctx.engine))
    serve_metrics(metrics.registry, ctx.settings.metrics_host, ctx.settings.metrics_port)
    stop = ShutdownSignal()
    # A moved clock moves on: each sweep is at --now plus the time since the scheduler started.
    offset = (args.now - utcnow()) if args.now is not None else timedelta(0)
    while not stop.received:
        try:
            print(sweep_once(ctx.engine, utcnow() + offset, to, payments, metrics), flush=True)
        except Exception:  # the database or broker is away: counted, logged, tried again next time
            log.exception("sweep failed; trying again in %s s", args.interval)
        stop.wait(args.interval)
    return 0
