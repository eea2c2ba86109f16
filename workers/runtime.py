"""What the actors of one worker process share: settings, the engine (made lazily, after fork),
the price catalog cache, the group committer, the metrics and the payment providers (for
auto-recharge)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from billing_core.db.engine import make_engine
from billing_core.db.group_commit import GroupCommitter
from billing_core.db.uow import committed
from billing_core.errors import EventWaiting
from billing_core.ledger.refund_requests import FailureResult, handle_failures
from billing_core.pricing.catalog import CatalogCache, load_catalog
from billing_core.pricing.rules import PriceCatalog
from billing_core.provider_events.processing import event_label, process_inbox_row
from billing_core.purchases.actions import charge_recharge
from billing_core.settings import Settings
from billing_core.subscriptions.payment_port import PaymentProvider
from billing_core.subscriptions.sweeper import grant_due_credits
from billing_core.usage import rejections
from billing_core.usage.ingest import IngestResult, PreparedUsage, prepare_usage, record_usage
from payments import build_providers
from workers.metrics import WorkerMetrics
from workers.notifications import deliver

log = logging.getLogger("billing.workers")


@dataclass(frozen=True)
class UsageMessage:
    """One message's usage, priced, with the times its lag is measured from (epoch seconds)."""

    prepared: PreparedUsage
    published_at: float | None
    earliest_occurred_at: float | None


class WorkerRuntime:
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        payments: Mapping[str, PaymentProvider] | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.payments: Mapping[str, PaymentProvider] = (
            build_providers(settings) if payments is None else payments
        )
        self.send_recharge: Callable[[int], object] | None = None  # set when the actors are declared
        self.catalogs = CatalogCache()
        self.metrics = metrics or WorkerMetrics()
        self.usage: GroupCommitter[UsageMessage] = GroupCommitter(
            self._commit_usage, max_size=settings.usage_batch_size * 4
        )

    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                # No ping per checkout: a dropped connection fails and its transaction is run again.
                self._engine = make_engine(self.settings, pool_size=4, pre_ping=False)
            return self._engine

    def _load_catalog(self) -> PriceCatalog:
        with self.engine.connect() as connection:
            return load_catalog(connection)

    def charge_usage(self, raw_events: list[object], published_at: float | None = None) -> None:
        """Decode and price in the calling thread, then commit together with other messages."""
        prepared = prepare_usage(raw_events, self.catalogs, self._load_catalog)
        earliest = min((p.event.occurred_at for p in prepared.priced), default=None)
        message = UsageMessage(prepared, published_at, earliest.timestamp() if earliest else None)
        self.usage.submit(message, size=max(1, len(raw_events)))

    def _commit_usage(self, messages: list[UsageMessage]) -> IngestResult:
        prepared = PreparedUsage.merge([m.prepared for m in messages])
        started = time.perf_counter()
        result = committed(self.engine, lambda c: self._record_usage(c, prepared))
        lag_starts = [(m.published_at, m.earliest_occurred_at) for m in messages]
        self.metrics.usage_committed(result, time.perf_counter() - started, lag_starts, time.time())
        self._hand_over_recharges(result.batch.recharges)
        for rejection in result.rejected:
            log.warning(
                "usage event rejected: %s",
                rejection.reason,
                extra={"event_id": rejection.event_id, "organization_id": rejection.organization_id},
            )
        for reason, event_ids in (
            (rejections.UNKNOWN_ORGANIZATION, result.batch.unknown_organization),
            (rejections.CONFLICT, result.batch.conflicts),
        ):
            for event_id in event_ids:
                log.warning("usage event rejected: %s", reason, extra={"event_id": event_id})
        return result

    def _record_usage(self, connection: Connection, prepared: PreparedUsage) -> IngestResult:
        """A balance row held by another transaction (a long admin transaction, a stuck session)
        must not stall the whole worker: the group commit waits for it only briefly, fails with
        LockNotAvailable, the group committer commits the other messages one by one, and the
        messages of the held organization are retried with backoff (scenario slow-consumer)."""
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(self.settings.usage_lock_timeout_ms)}")
        return record_usage(connection, prepared, datetime.now(UTC))

    def _hand_over_recharges(self, purchase_ids: list[int]) -> None:
        """Auto-recharges the committed debits recorded go to their job; one that cannot be sent now
        is picked up by the scheduler's sweep (never a reason to fail the debits)."""
        for purchase_id in purchase_ids:
            try:
                if self.send_recharge is not None:
                    self.send_recharge(purchase_id)
            except Exception:
                log.warning("auto-recharge %d not enqueued; the scheduler picks it up", purchase_id)

    def charge_recharge(self, purchase_id: int) -> str:
        status = charge_recharge(self.engine, self.payments, purchase_id, datetime.now(UTC))
        log.info("auto-recharge %d: %s", purchase_id, status)
        return status

    def refund_failures(self, raw_reports: list[object]) -> FailureResult:
        result = committed(self.engine, lambda c: handle_failures(c, raw_reports, datetime.now(UTC)))
        self.metrics.refunds.labels("refunded").inc(len(result.refunded))
        self.metrics.refunds.labels("waiting").inc(len(result.waiting))
        self.metrics.refunds.labels("rejected").inc(len(result.rejected))
        for rejection in result.rejected:
            log.warning(
                "failure report rejected: %s",
                rejection.reason,
                extra={"event_id": rejection.event_id, "organization_id": rejection.organization_id},
            )
        return result

    def grant_due(self, subscription_id: int, period_start: str, as_of: str | None = None) -> bool:
        """Apply one due grant found by the sweeper (at the sweep's time, when it says)."""
        start = datetime.fromisoformat(period_start)
        now = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC)

        granted = committed(self.engine, lambda c: grant_due_credits(c, subscription_id, start, now))
        self.metrics.grants.labels("granted" if granted else "not_due").inc()
        return granted

    def process_webhook(self, inbox_id: int) -> str:
        """Apply one inbox row in one transaction; NotYet propagates so that the actor retries."""
        try:
            applied = committed(self.engine, lambda c: process_inbox_row(c, inbox_id, datetime.now(UTC)))
        except EventWaiting as wait:
            self.metrics.webhook_events.labels(
                wait.provider, event_label(wait.provider, wait.event_type), "waiting"
            ).inc()
            raise
        self.metrics.webhook_events.labels(
            applied.provider, event_label(applied.provider, applied.event_type), applied.status
        ).inc()
        log.info(
            "%s webhook %s %s",
            applied.provider,
            applied.event_type,
            applied.status,
            extra={"webhook_event_id": applied.external_id, "inbox_id": inbox_id},
        )
        return applied.status

    def deliver_notification(self, delivery_id: int) -> str | None:
        return deliver(self.engine, self.settings, delivery_id)

    def park(self, rejection: rejections.Rejection) -> None:
        """Store one rejected message in its own committed transaction."""
        committed(self.engine, lambda c: rejections.record(c, [rejection]))
        self.metrics.parked.labels(rejection.kind, rejection.reason).inc()
        message_id = rejection.payload.get("message_id")
        log.warning(
            "parked a %s message: %s (%s)",
            rejection.kind,
            rejection.reason,
            rejection.detail,
            extra={"message_id": message_id} if isinstance(message_id, str) else {},
        )

    def parked_message(self, kind: str, reason: str, payload: dict[str, Any], detail: str) -> None:
        self.park(rejections.Rejection(kind=kind, reason=reason, payload=payload, detail=detail))
