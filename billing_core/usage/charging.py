"""Charging events in the request that brought them (the API without a broker, as `billing up`
runs): the workers' usage use case, with the API's concurrent requests group-committed into one
transaction (billing_core/db/group_commit.py). A request returns once its events are committed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from billing_core.db.group_commit import GroupCommitter
from billing_core.db.uow import committed
from billing_core.ledger.refund_requests import FailureResult, handle_failures
from billing_core.pricing.catalog import CatalogCache, load_catalog
from billing_core.pricing.rules import PriceCatalog
from billing_core.usage.ingest import IngestResult, PreparedUsage, prepare_usage, record_usage
from billing_core.usage.rejections import CONFLICT, UNKNOWN_ORGANIZATION, Rejection


@dataclass
class _Submission:
    prepared: PreparedUsage
    result: IngestResult | None = None


@dataclass(frozen=True)
class ChargeResult:
    """The usage result of the group commit that held the request's events (it may hold other
    requests' events too: look events up by id), and its failure reports' result."""

    usage: IngestResult = field(default_factory=IngestResult)
    failures: FailureResult = field(default_factory=FailureResult)


class UsageCharger:
    def __init__(self, engine: Engine, catalogs: CatalogCache, *, max_group_events: int = 4000) -> None:
        self._engine = engine
        self._catalogs = catalogs
        self._committer: GroupCommitter[_Submission] = GroupCommitter(self._commit, max_size=max_group_events)

    def charge(self, usage: Sequence[object], failures: Sequence[object]) -> ChargeResult:
        """Debit the usage events (priced in this thread, committed with the other requests in
        flight), then keep and settle the failure reports in a transaction of their own."""
        submission = _Submission(prepare_usage(usage, self._catalogs, self._load_catalog))
        if usage:
            self._committer.submit(submission, size=len(usage))
        failed = FailureResult()
        if failures:
            failed = committed(self._engine, lambda c: handle_failures(c, failures, datetime.now(UTC)))
        return ChargeResult(submission.result or IngestResult(), failed)

    def _load_catalog(self) -> PriceCatalog:
        with self._engine.connect() as connection:
            return load_catalog(connection)

    def _commit(self, submissions: list[_Submission]) -> None:
        prepared = PreparedUsage.merge([s.prepared for s in submissions])
        result = committed(self._engine, lambda c: record_usage(c, prepared, datetime.now(UTC)))
        for submission in submissions:
            submission.result = result


@dataclass(frozen=True)
class Outcome:
    """What became of one event: charged (with its cost in micro-credits), duplicate, refunded,
    refund_pending (a failure report waiting for its debit), or rejected (with the reason it was
    kept in rejected_events for)."""

    outcome: str
    cost: int | None = None
    reason: str | None = None
    detail: str = ""


def usage_outcomes(result: IngestResult) -> dict[str, Outcome]:
    """Each usage event id of a commit's result, and its outcome."""
    found = {
        r.event_id: Outcome("rejected", reason=r.reason, detail=r.detail)
        for r in result.rejected
        if r.event_id
    }
    for event_id in result.batch.unknown_organization:
        found[event_id] = Outcome("rejected", reason=UNKNOWN_ORGANIZATION, detail="unknown organization")
    for event_id in result.batch.conflicts:
        detail = "event id already charged with a different payload; not charged again"
        found[event_id] = Outcome("rejected", reason=CONFLICT, detail=detail)
    found.update((event_id, Outcome("duplicate")) for event_id in result.batch.duplicates)
    found.update((event_id, Outcome("charged", cost)) for event_id, cost in result.charged.items())
    return found


def failure_outcomes(result: FailureResult) -> dict[str, Outcome]:
    """Each original event id of a failure result, and the outcome of its failure report."""
    found = {
        r.event_id: Outcome("rejected", reason=r.reason, detail=r.detail)
        for r in result.rejected
        if r.event_id
    }
    found.update((event_id, Outcome("refund_pending")) for event_id in result.waiting)
    found.update((event_id, Outcome("refunded")) for event_id in result.refunded)
    return found


def _rejected(rejected: list[Rejection]) -> dict[str, Outcome]:
    return {r.event_id: Outcome("rejected", reason=r.reason, detail=r.detail) for r in rejected if r.event_id}
