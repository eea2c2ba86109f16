"""The backlog gauges: what waits in the database and the broker, read at most once per interval."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from billing_core.usage import rejections
from tests.support.ledger import committed
from workers.backlog import BacklogCollector


def test_the_gauges_are_read_once_per_interval_however_often_they_are_scraped(engine, pipeline_settings):
    clock = [0.0]
    registry = CollectorRegistry()
    registry.register(BacklogCollector(pipeline_settings, engine, min_interval=10, clock=lambda: clock[0]))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("billing_rejected_events_pending", reason="malformed") == 0
    assert value("billing_backlog_source_up", source="database") == 1
    assert value("billing_backlog_source_up", source="broker") == 1
    assert value("billing_queue_messages", queue="usage.0") is None  # no worker declared this prefix's queues
    parked = rejections.Rejection("usage", rejections.MALFORMED, {"raw": "x"}, detail="test")
    committed(engine, lambda c: rejections.record(c, [parked]))
    clock[0] = 9.9
    assert value("billing_rejected_events_pending", reason="malformed") == 0  # the cached read
    clock[0] = 10.0
    assert value("billing_rejected_events_pending", reason="malformed") == 1
    assert value("billing_scheduler_last_sweep_timestamp_seconds") is None  # never swept


def test_an_unreachable_broker_reads_as_down_and_the_scrape_still_answers(engine, pipeline_settings):
    settings = pipeline_settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1/%2F"})
    registry = CollectorRegistry()
    registry.register(BacklogCollector(settings, engine))
    assert registry.get_sample_value("billing_backlog_source_up", {"source": "broker"}) == 0
    assert registry.get_sample_value("billing_backlog_source_up", {"source": "database"}) == 1
