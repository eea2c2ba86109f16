"""The metrics of the work the workers and the scheduler do (see docs/metrics.md).

Usage is counted once per group commit, never per event: the hot path adds a handful of counter
increments and histogram observations per transaction. The lag histograms take one observation
per message (not per event): `published` from the message's publish time (its Dramatiq
`message_timestamp`) to its commit, `occurred` from its earliest event's `occurred_at`.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from billing_core.money import MICROS_PER_CREDIT
from billing_core.usage import rejections
from billing_core.usage.ingest import IngestResult

USAGE_OUTCOMES = ("charged", "duplicate", "conflict", "rejected")
USAGE_REJECTIONS = (
    rejections.MALFORMED,
    rejections.UNKNOWN_MODEL,
    rejections.UNKNOWN_TOOL,
    rejections.UNKNOWN_ORGANIZATION,
)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry or CollectorRegistry()
        self.usage_events = Counter(
            "billing_usage_events",
            "Usage events by outcome; rejected ones also by reason (empty for the other outcomes).",
            ["outcome", "reason"],
            registry=registry,
        )
        for outcome in USAGE_OUTCOMES[:3]:
            self.usage_events.labels(outcome, "")
        for reason in USAGE_REJECTIONS:
            self.usage_events.labels("rejected", reason)
        self.debited_credits = Counter(
            "billing_usage_debited_credits", "Credits debited by usage events.", registry=registry
        )
        self.group_events = Histogram(
            "billing_usage_group_commit_events",
            "Events per group commit (one transaction for every message in flight).",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 4000),
            registry=registry,
        )
        self.group_seconds = Histogram(
            "billing_usage_group_commit_seconds",
            "How long a group commit's transaction took.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.lag = Histogram(
            "billing_usage_lag_seconds",
            "Per usage message, from its publish time (since=published) or its earliest event's "
            "occurred_at (since=occurred) to the commit that charged it.",
            ["since"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.refunds = Counter(
            "billing_refund_reports",
            "Failure reports by outcome: refunded now, waiting for their debit, rejected.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("refunded", "waiting", "rejected"):
            self.refunds.labels(outcome)
        self.grants = Counter(
            "billing_subscription_grants",
            "Grant messages by outcome: granted, or not_due (already granted or no longer due).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("granted", "not_due"):
            self.grants.labels(outcome)
        self.webhook_events = Counter(
            "billing_webhook_events_processed",
            "Stored provider events applied by the workers, by provider, type and outcome (processed, "
            "ignored, rejected: it can never apply as it is, waiting: it needs another event first). "
            "Types without a handler count as `other`.",
            ["provider", "type", "outcome"],
            registry=registry,
        )
        self.parked = Counter(
            "billing_parked_messages",
            "Queue messages parked as rejected events instead of being processed, by kind and reason.",
            ["kind", "reason"],
            registry=registry,
        )

    def usage_committed(
        self,
        result: IngestResult,
        seconds: float,
        lag_starts: Sequence[tuple[float | None, float | None]],
        committed_at: float,
    ) -> None:
        """One group commit: its outcomes, size and duration, and each message's (published,
        earliest occurred) lag, all in epoch seconds."""
        batch = result.batch
        self.usage_events.labels("charged", "").inc(len(batch.charged))
        self.usage_events.labels("duplicate", "").inc(len(batch.duplicates))
        self.usage_events.labels("conflict", "").inc(len(batch.conflicts))
        rejected = Tally(r.reason for r in result.rejected)
        rejected[rejections.UNKNOWN_ORGANIZATION] += len(batch.unknown_organization)
        for reason, count in rejected.items():
            if count:
                self.usage_events.labels("rejected", reason).inc(count)
        self.debited_credits.inc(sum(batch.charged.values()) / MICROS_PER_CREDIT)
        events = len(batch.charged) + len(batch.duplicates) + len(batch.conflicts) + sum(rejected.values())
        self.group_events.observe(events)
        self.group_seconds.observe(seconds)
        published, occurred = self.lag.labels("published"), self.lag.labels("occurred")
        for published_at, occurred_at in lag_starts:
            if published_at is not None:
                published.observe(max(0.0, committed_at - published_at))
            if occurred_at is not None:
                occurred.observe(max(0.0, committed_at - occurred_at))


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry or CollectorRegistry()
        self.sweeps = Counter(
            "billing_scheduler_sweeps",
            "Scheduler sweeps by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self.sweeps.labels(outcome)
        self.swept = Counter(
            "billing_scheduler_swept",
            "What the sweeps did: grants applied or sent to the grants queue, grants expired, "
            "subscriptions ended, stale webhooks resumed, credit holds expired, auto-recharges resumed.",
            ["action"],
            registry=registry,
        )
        for action in (
            "granted",
            "grants_sent",
            "expired",
            "ended",
            "webhooks_resumed",
            "holds_expired",
            "recharges_resumed",
        ):
            self.swept.labels(action)
