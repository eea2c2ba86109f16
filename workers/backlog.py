"""The deployment's backlogs, read cheaply: queue depths and consumers from the broker (a passive
`queue_declare` per queue over AMQP), and what waits in the database (billing_core/queries/
backlogs.py). `billing status` prints them; `BacklogCollector` serves them as gauges, read at most
once per `min_interval` however often it is scraped.

A passive declare gives a queue's ready messages and its consumers. Messages delivered but not yet
acknowledged are not in it (only `rabbitmqctl list_queues messages_unacknowledged` or the
management API give those), so a queue being worked on may read 0 while its consumers hold some.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pika
import pika.exceptions
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from billing_core.db.uow import read_only
from billing_core.queries.backlogs import Backlogs, read_backlogs
from billing_core.settings import Settings
from billing_core.usage import rejections
from workers.broker import every_queue

REJECTION_REASONS = (
    rejections.MALFORMED,
    rejections.UNKNOWN_MODEL,
    rejections.UNKNOWN_TOOL,
    rejections.UNKNOWN_ORGANIZATION,
    rejections.CONFLICT,
    rejections.POISON,
    rejections.RETRIES_EXHAUSTED,
    rejections.DEAD_LETTERED,
    rejections.UNMATCHED_REFUND,
    rejections.ORGANIZATION_MISMATCH,
)


@dataclass(frozen=True)
class QueueStat:
    name: str  # without the deployment's prefix
    ready: int | None  # None: the queue is not declared
    consumers: int | None


def _not_a_missing_queue(record: logging.LogRecord) -> bool:
    """pika warns of every channel the broker closes; a passive declare's 404 is an answer here."""
    return "Channel.Close (404)" not in record.getMessage()


def read_queues(settings: Settings) -> list[QueueStat]:
    """Every queue of the deployment (with its .DQ and .XQ); raises if the broker cannot be reached."""
    assert settings.broker_url
    logging.getLogger("pika.channel").addFilter(_not_a_missing_queue)  # added once, however often called
    urls = settings.broker_url.split(";")  # a cluster: tried in turn, as the workers do
    connection = pika.BlockingConnection([pika.URLParameters(url) for url in urls])
    stats = []
    try:
        channel = connection.channel()
        for name in every_queue(settings):
            short = name.removeprefix(settings.queue_prefix)
            try:
                declared = channel.queue_declare(name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker:  # 404: not declared; the channel is gone
                stats.append(QueueStat(short, None, None))
                channel = connection.channel()
                continue
            stats.append(QueueStat(short, declared.message_count, declared.consumer_count))
    finally:
        if connection.is_open:
            connection.close()
    return stats


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "up": _gauge("billing_backlog_source_up", "1 if the last read of the source worked.", ["source"]),
        "queue": _gauge("billing_queue_messages", "Ready messages per queue (broker).", ["queue"]),
        "consumers": _gauge("billing_queue_consumers", "Consumers per queue (broker).", ["queue"]),
        "rejected": _gauge(
            "billing_rejected_events_pending", "Rejected events pending replay, by reason.", ["reason"]
        ),
        "inbox": _gauge(
            "billing_webhook_inbox_unfinished", "Webhook inbox rows not applied, by status.", ["status"]
        ),
        "inbox_age": _gauge(
            "billing_webhook_inbox_oldest_unfinished_age_seconds", "Age of the oldest unfinished inbox row."
        ),
        "refunds": _gauge("billing_refunds_waiting", "Failure reports waiting for their debit."),
        "refunds_age": _gauge(
            "billing_refunds_waiting_oldest_age_seconds", "Age of the oldest report waiting for its debit."
        ),
        "overdraft": _gauge("billing_organizations_in_overdraft", "Organizations with an overdraft."),
        "sweep": _gauge(
            "billing_scheduler_last_sweep_timestamp_seconds", "When the scheduler's last sweep committed."
        ),
        "reconciled": _gauge(
            "billing_reconcile_last_run_timestamp_seconds", "When `billing reconcile` last ran."
        ),
        "violations": _gauge(
            "billing_reconcile_violations", "Ledger invariants the last `billing reconcile` found broken."
        ),
    }


class BacklogCollector(Collector):
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        min_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings, self._engine = settings, engine
        self._min_interval, self._clock = min_interval, clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._cached: list[Metric] = []

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())  # names only: registering reads nothing

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._min_interval:
                self._cached, self._read_at = self._read(), now
            return list(self._cached)

    def _read(self) -> list[Metric]:
        f = _families()
        try:
            backlogs = read_only(self._engine, read_backlogs)
            f["up"].add_metric(["database"], 1)
            _add_backlogs(f, backlogs, datetime.now(UTC))
        except Exception:  # the database is away: the gauge says so, and the scrape still answers
            f["up"].add_metric(["database"], 0)
        if self._settings.broker_url:
            try:
                for stat in read_queues(self._settings):
                    if stat.ready is not None and stat.consumers is not None:
                        f["queue"].add_metric([stat.name], stat.ready)
                        f["consumers"].add_metric([stat.name], stat.consumers)
                f["up"].add_metric(["broker"], 1)
            except Exception:  # the broker is away: the same
                f["up"].add_metric(["broker"], 0)
        return list(f.values())


def _add_backlogs(f: dict[str, GaugeMetricFamily], b: Backlogs, now: datetime) -> None:
    for reason in sorted({*REJECTION_REASONS, *b.rejected_pending}):
        f["rejected"].add_metric([reason], b.rejected_pending.get(reason, 0))
    for status in ("pending", "failed"):
        f["inbox"].add_metric([status], b.inbox_unfinished.get(status, 0))
    oldest = b.inbox_oldest_unfinished
    f["inbox_age"].add_metric([], (now - oldest).total_seconds() if oldest else 0)
    f["refunds"].add_metric([], b.refunds_pending)
    waiting = b.refunds_oldest_pending
    f["refunds_age"].add_metric([], (now - waiting).total_seconds() if waiting else 0)
    f["overdraft"].add_metric([], b.organizations_in_overdraft)
    if b.last_sweep is not None:
        f["sweep"].add_metric([], b.last_sweep.timestamp())
    if b.last_reconcile is not None:
        f["reconciled"].add_metric([], b.last_reconcile.timestamp())
        f["violations"].add_metric([], b.reconcile_violations)
