"""What the actors of one worker process share: settings, the engine (made lazily, after fork),
the price catalog cache and the group committer."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from billing_core.db.engine import make_engine
from billing_core.db.group_commit import GroupCommitter
from billing_core.db.uow import committed
from billing_core.ledger.refund_requests import FailureResult, handle_failures
from billing_core.pricing.catalog import CatalogCache, load_catalog
from billing_core.pricing.rules import PriceCatalog
from billing_core.provider_events.processing import process_inbox_row
from billing_core.settings import Settings
from billing_core.subscriptions.sweeper import grant_due_credits
from billing_core.usage import rejections
from billing_core.usage.ingest import IngestResult, PreparedUsage, prepare_usage, record_usage
from workers.notifications import deliver

log = logging.getLogger("billing.workers")


class GroupStats:
    """Logs, every `every` seconds, how big the group commits were and how long they took."""

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self._log = logger
        self._every = every
        self._lock = threading.Lock()
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self._since, self._groups, self._messages, self._events, self._busy = now, 0, 0, 0, 0.0

    def add(self, messages: int, events: int, seconds: float) -> None:
        with self._lock:
            self._groups += 1
            self._messages += messages
            self._events += events
            self._busy += seconds
            now = time.monotonic()
            if now - self._since >= self._every:
                self._log.info(
                    "usage: %d events/s; %d commits of %.1f messages / %.0f events, %.1f ms each",
                    self._events / (now - self._since),
                    self._groups,
                    self._messages / self._groups,
                    self._events / self._groups,
                    1000 * self._busy / self._groups,
                )
                self._reset(now)


class WorkerRuntime:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.catalogs = CatalogCache()
        self.usage: GroupCommitter[PreparedUsage] = GroupCommitter(
            self._commit_usage, max_size=settings.usage_batch_size * 4
        )
        self.throughput = GroupStats(log)
        self.counters: dict[str, int] = {"charged": 0, "duplicates": 0, "rejected": 0, "conflicts": 0}

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

    def charge_usage(self, raw_events: list[object]) -> None:
        """Decode and price in the calling thread, then commit together with other messages."""
        prepared = prepare_usage(raw_events, self.catalogs, self._load_catalog)
        self.usage.submit(prepared, size=max(1, len(raw_events)))

    def _commit_usage(self, parts: list[PreparedUsage]) -> IngestResult:
        prepared = PreparedUsage.merge(parts)

        started = time.monotonic()
        result = committed(self.engine, lambda c: record_usage(c, prepared, datetime.now(UTC)))
        self.throughput.add(len(parts), len(prepared.priced), time.monotonic() - started)
        self.counters["charged"] += len(result.charged)
        self.counters["duplicates"] += len(result.batch.duplicates)
        self.counters["conflicts"] += len(result.batch.conflicts)
        self.counters["rejected"] += len(result.rejected) + len(result.batch.unknown_organization)
        if result.rejected or result.batch.unknown_organization or result.batch.conflicts:
            log.warning(
                "usage batch: %d charged, %d rejected (%s), %d unknown organization, %d conflicts",
                len(result.charged),
                len(result.rejected),
                ", ".join(sorted({r.reason for r in result.rejected})) or "-",
                len(result.batch.unknown_organization),
                len(result.batch.conflicts),
            )
        return result

    def refund_failures(self, raw_reports: list[object]) -> FailureResult:
        result = committed(self.engine, lambda c: handle_failures(c, raw_reports, datetime.now(UTC)))
        self.counters["refunded"] = self.counters.get("refunded", 0) + len(result.refunded)
        if result.rejected:
            log.warning(
                "failure reports: %d rejected (%s)",
                len(result.rejected),
                ", ".join(sorted({r.reason for r in result.rejected})),
            )
        return result

    def grant_due(self, subscription_id: int, period_start: str, as_of: str | None = None) -> bool:
        """Apply one due grant found by the sweeper (at the sweep's time, when it says)."""
        start = datetime.fromisoformat(period_start)
        now = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC)

        granted = committed(self.engine, lambda c: grant_due_credits(c, subscription_id, start, now))
        self.counters["granted"] = self.counters.get("granted", 0) + int(granted)
        return granted

    def process_webhook(self, inbox_id: int) -> str:
        """Apply one inbox row in one transaction; NotYet propagates so that the actor retries."""
        return committed(self.engine, lambda c: process_inbox_row(c, inbox_id, datetime.now(UTC)))

    def deliver_notification(self, delivery_id: int) -> str | None:
        return deliver(self.engine, self.settings, delivery_id)

    def park(self, rejection: rejections.Rejection) -> None:
        """Store one rejected message in its own committed transaction."""
        committed(self.engine, lambda c: rejections.record(c, [rejection]))
        self.counters["rejected"] += 1
        log.warning("parked a %s message: %s (%s)", rejection.kind, rejection.reason, rejection.detail)

    def parked_message(self, kind: str, reason: str, payload: dict[str, Any], detail: str) -> None:
        self.park(rejections.Rejection(kind=kind, reason=reason, payload=payload, detail=detail))
