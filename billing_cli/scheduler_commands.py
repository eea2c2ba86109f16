"""`billing scheduler [--once] [--now T] [--interval S]`: the grant sweeper, and its thread in `billing up`.

With BROKER_URL the due grants go to the `grants` queue (sent after the sweep's commit) and the grant
actor writes them; without it the sweep grants directly, through the same service function.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from billing_cli.context import CommandContext, parse_time, utcnow
from billing_cli.webhook_commands import Enqueue, queue_enqueuer, sweep_inbox
from billing_core.db.uow import committed
from billing_core.settings import Settings
from billing_core.subscriptions.sweeper import SweepResult, sweep

log = logging.getLogger("billing.scheduler")
Send = Callable[[int, str, str], object]  # (subscription id, period start, as of)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    scheduler = sub.add_parser("scheduler", help="grant due subscription credits and expire due grants")
    scheduler.add_argument("--once", action="store_true", help="run one sweep and exit")
    scheduler.add_argument("--now", type=parse_time, help="the sweep's time (ISO 8601; default: now)")
    scheduler.add_argument("--interval", type=float, default=300.0, help="seconds between sweeps")
    scheduler.set_defaults(run=scheduler_cmd)


def run_sweep(engine: Engine, now: datetime, send: Send | None = None) -> SweepResult:
    """One sweep in one transaction; due grants are sent only after it commits."""

    result = committed(engine, lambda c: sweep(c, now, apply_grants=send is None))
    for item in result.due:
        if send is not None:
            send(item.subscription_id, item.period_start.isoformat(), now.isoformat())
    return result


def queue_sender(settings: Settings, engine: Engine) -> Send:
    """The grant actor's `send`, on the broker of BROKER_URL."""
    from workers.actors import declare_actors
    from workers.broker import build_broker
    from workers.runtime import WorkerRuntime

    actors = declare_actors(build_broker(settings), WorkerRuntime(settings, engine=engine))
    return actors.grant_due_credits.send


def describe(result: SweepResult) -> str:
    queued = f", {len(result.due)} sent to the grants queue" if result.due else ""
    return (
        f"granted {result.granted}{queued}, expired {result.expired} grant(s), "
        f"ended {result.ended} canceled subscription(s)"
    )


def scheduler_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    send = queue_sender(ctx.settings, ctx.engine) if ctx.settings.broker_url else None
    enqueue = queue_enqueuer(ctx.settings) if ctx.settings.broker_url else None
    while True:
        now = args.now or utcnow() if args.once else utcnow()
        stale = sweep_inbox(ctx.engine, now, enqueue)
        print(f"{describe(run_sweep(ctx.engine, now, send))}; {stale} stale webhook(s) resumed", flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)  # pragma: no cover - runs until stopped


class SweeperThread:
    """`billing up`'s scheduler: a sweep every `interval` seconds until stopped."""

    def __init__(
        self, engine: Engine, send: Send | None, interval: float = 60.0, enqueue: Enqueue | None = None
    ) -> None:
        self._enqueue = enqueue
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(engine, send, interval), name="sweeper", daemon=True
        )

    def start(self) -> SweeperThread:
        self._thread.start()
        return self

    def _run(self, engine: Engine, send: Send | None, interval: float) -> None:
        while not self._stop.is_set():
            try:
                sweep_inbox(engine, utcnow(), self._enqueue)
                result = run_sweep(engine, utcnow(), send)
                if result.granted or result.due or result.expired or result.ended:
                    log.info("sweep: %s", describe(result))
            except Exception:
                log.exception("sweep failed; trying again in %s s", interval)
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
