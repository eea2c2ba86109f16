"""The scheduler: sweeps that find due work and hand it to the queues (or do it in place).

- `run_sweep`: monthly grants due, expirations, canceled subscriptions ending — one transaction;
  with a broker the due grants go to the `grants` queue after the commit, and the grant actor
  applies each once; without one the sweep grants directly, through the same service function.
- `sweep_inbox`: webhook deliveries still pending minutes after they arrived (a crash between the
  receiver's commit and its enqueue, or an event that waited for another) go to the queue again.
- `sweep_recharges`: auto-recharges recorded a minute ago and never claimed (their job's message
  was lost), or left charging for ten minutes (the job died in the provider call), go to the
  `purchases` queue again; without a broker they are charged here, with the same idempotency key.
Two schedulers are harmless: every grant and every inbox row is applied at most once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from billing_core import audit
from billing_core.audit import Actor
from billing_core.db.uow import committed, read_only
from billing_core.errors import NotYet
from billing_core.faults import fault_point
from billing_core.provider_events.inbox import stale_pending
from billing_core.provider_events.processing import Applied, process_inbox_row
from billing_core.purchases.actions import charge_recharge
from billing_core.purchases.recharges import in_flight
from billing_core.settings import Settings
from billing_core.spend.holds import expire_holds
from billing_core.subscriptions.payment_port import PaymentProvider
from billing_core.subscriptions.sweeper import SweepResult, sweep
from workers.boot import boot
from workers.metrics import SchedulerMetrics

log = logging.getLogger("billing.scheduler")
STALE_AFTER = timedelta(minutes=5)
Send = Callable[[int, str, str], object]  # (subscription id, period start, as of)
Enqueue = Callable[[int], object]  # an inbox row id


@dataclass(frozen=True)
class Senders:
    """Where the scheduler and the webhook receiver hand work: the actors' `send`, on the broker."""

    grant: Send
    webhook: Enqueue
    recharge: Enqueue  # a purchase id


def senders(settings: Settings, engine: Engine | None = None) -> Senders:
    """The grant, webhook and recharge actors' `send` on this process's broker (the one boot of
    workers)."""
    app = boot(settings, engine=engine)
    actors = app.actors
    return Senders(actors.grant_due_credits.send, actors.process_webhook.send, actors.charge_recharge.send)


def run_sweep(engine: Engine, now: datetime, send: Send | None = None) -> SweepResult:
    """One sweep in one transaction; due grants are sent only after it commits."""
    result = committed(engine, lambda c: sweep(c, now, apply_grants=send is None))
    for item in result.due:
        fault_point("scheduler:between_grant_sends")
        if send is not None:
            send(item.subscription_id, item.period_start.isoformat(), now.isoformat())
    return result


def process_now(engine: Engine, inbox_id: int, now: datetime, replayed_by: Actor | None = None) -> str:
    """Apply one inbox row in this process; a row that must wait for another event stays pending.
    A replay a person asked for (`replayed_by`) is audited as `webhooks.replay`."""

    def apply(connection: Connection) -> Applied:
        return process_inbox_row(connection, inbox_id, now)

    work: Callable[[Connection], Applied] = apply
    if replayed_by is not None:
        work = audit.audited(
            replayed_by,
            "webhooks.replay",
            apply,
            target=lambda _: ("webhook_inbox", inbox_id),
            details=lambda a: {"status": a.status},
        )
    try:
        return committed(engine, work).status
    except NotYet:
        return "pending"


def sweep_inbox(engine: Engine, now: datetime, enqueue: Enqueue | None) -> int:
    """Hand stale pending inbox rows to the queue again, or apply them here without a broker."""
    stale = read_only(engine, lambda c: stale_pending(c, now, STALE_AFTER))
    for inbox_id in stale:
        if enqueue is not None:
            enqueue(inbox_id)
        else:
            process_now(engine, inbox_id, now)
    return len(stale)


def sweep_recharges(
    engine: Engine, now: datetime, enqueue: Enqueue | None, payments: Mapping[str, PaymentProvider]
) -> int:
    """Hand waiting or interrupted auto-recharges to the queue again, or charge them here."""
    waiting = read_only(engine, lambda c: in_flight(c, now))
    for purchase_id in waiting:
        if enqueue is not None:
            enqueue(purchase_id)
        else:
            try:
                charge_recharge(engine, payments, purchase_id, now)
            except Exception:  # the provider is away: the next sweep tries again, with the same key
                log.warning("auto-recharge %d not charged yet", purchase_id, exc_info=True)
    return len(waiting)


def describe(result: SweepResult) -> str:
    queued = f", {len(result.due)} sent to the grants queue" if result.due else ""
    return (
        f"granted {result.granted}{queued}, expired {result.expired} grant(s), "
        f"ended {result.ended} canceled subscription(s)"
    )


@dataclass(frozen=True)
class SweepReport:
    result: SweepResult
    stale_webhooks: int
    expired_holds: int
    recharges: int

    @property
    def eventful(self) -> bool:
        r = self.result
        return any((r.granted, r.due, r.expired, r.ended)) or any(
            (self.stale_webhooks, self.expired_holds, self.recharges)
        )

    def __str__(self) -> str:
        return (
            f"{describe(self.result)}; {self.stale_webhooks} stale webhook(s) resumed; "
            f"{self.expired_holds} expired hold(s) released; {self.recharges} auto-recharge(s) resumed"
        )


def sweep_once(
    engine: Engine,
    now: datetime,
    to: Senders | None,
    payments: Mapping[str, PaymentProvider] | None = None,
    metrics: SchedulerMetrics | None = None,
) -> SweepReport:
    """Every sweep, the inbox first: what subscriptions make due, expired credit holds, waiting
    auto-recharges (without senders charged here through `payments`, the configured providers).
    Counted in `metrics` (a failed sweep too, then re-raised)."""
    try:
        stale = sweep_inbox(engine, now, to.webhook if to else None)
        recharges = sweep_recharges(engine, now, to.recharge if to else None, payments or {})
        result = run_sweep(engine, now, to.grant if to else None)
        holds = committed(engine, lambda c: expire_holds(c, now))
        report = SweepReport(result, stale, holds, recharges)
    except Exception:
        if metrics is not None:
            metrics.sweeps.labels("failed").inc()
        raise
    if metrics is not None:
        r = report.result
        metrics.sweeps.labels("ok").inc()
        for action, count in (
            ("granted", r.granted),
            ("grants_sent", len(r.due)),
            ("expired", r.expired),
            ("ended", r.ended),
            ("webhooks_resumed", stale),
            ("holds_expired", holds),
            ("recharges_resumed", recharges),
        ):
            metrics.swept.labels(action).inc(count)
    return report


class SweeperThread:
    """`billing up`'s scheduler: both sweeps every `interval` seconds until stopped."""

    def __init__(
        self,
        engine: Engine,
        to: Senders | None,
        interval: float = 60.0,
        metrics: SchedulerMetrics | None = None,
    ) -> None:
        self._stop = threading.Event()
        self._metrics = metrics
        self._thread = threading.Thread(
            target=self._run, args=(engine, to, interval), name="sweeper", daemon=True
        )

    def start(self) -> SweeperThread:
        self._thread.start()
        return self

    def _run(self, engine: Engine, to: Senders | None, interval: float) -> None:
        while not self._stop.is_set():
            try:
                report = sweep_once(engine, datetime.now(UTC), to, metrics=self._metrics)
                if report.eventful:
                    log.info("sweep: %s", report)
            except Exception:
                log.exception("sweep failed; trying again in %s s", interval)
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
