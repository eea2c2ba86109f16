"""Scenarios 2 and 3: the services restart under a running stream.

- database-restart: PostgreSQL restarted (fast: sessions ended, open transactions rolled back) in
  the middle of group commits, then every worker connection ended with pg_terminate_backend. The
  workers reconnect; nothing is lost, doubled, or parked as poison for it.
- broker-restart: the RabbitMQ node stopped and started again (not only its app) while workers
  hold unacknowledged messages and a publisher publishes: the unacknowledged are redelivered and
  charged once; the publisher and the workers reconnect.
"""

from __future__ import annotations

import time

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.scenarios.common import armed, charged_distinct, start_worker, wait_charged
from chaos.stage import Services, Stage, scratch_stage, wait_until
from chaos.stream import StreamPublisher, create_orgs, usage_events

DATABASE = "database-restart"
BROKER = "broker-restart"


def _until_charged(stage: Stage, run_id: str, count: int) -> None:
    wait_until(
        lambda: charged_distinct(stage, run_id) >= count,
        120,
        lambda: f"{count} events charged before the fault; {charged_distinct(stage, run_id)} are",
    )


def run_database_restart(services: Services, events: int) -> Outcome:
    with scratch_stage(services, DATABASE) as stage:
        orgs = create_orgs(stage, 50)
        run_id = f"db{time.time_ns():x}"
        stream = usage_events(run_id, events, orgs)
        start_worker(stage)
        publisher = StreamPublisher(stage, stream, rate=max(500.0, events / 20))
        publisher.start()
        _until_charged(stage, run_id, events // 4)
        services.postgres.restart()
        _until_charged(stage, run_id, events // 2)
        with stage.engine.connect() as c:
            ended = c.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            ).scalar_one()
        last_fault = time.monotonic()
        publisher.finish()
        wait_charged(stage, run_id, events)
        return outcome(
            stage,
            DATABASE,
            [e.event_id for e in stream],
            ledger_counts(stage, "usage"),
            time.monotonic() - last_fault,
            detail=f"1 fast restart, then {ended} worker connections terminated",
        )


def run_broker_restart(services: Services, events: int) -> Outcome:
    with scratch_stage(services, BROKER) as stage:
        orgs = create_orgs(stage, 50)
        run_id = f"mq{time.time_ns():x}"
        stream = usage_events(run_id, events, orgs)
        # Each message is held 0.5 s between its commit and its ack, so that the node stops while
        # the worker holds many unacknowledged (committed and not) messages.
        start_worker(stage, threads=32, extra_env=armed("usage:after_commit_before_ack", action="sleep:0.5"))
        seconds = 30 if events >= 5000 else 14  # the stream outlasts the restart (about 10 s)
        publisher = StreamPublisher(stage, stream, rate=events / seconds)
        publisher.start()
        _until_charged(stage, run_id, events // 4)
        wait_until(lambda: stage.queue_backlog()[1] > 0, 60, "the worker to hold unacknowledged messages")
        unacked_at_stop = stage.queue_backlog()[1]
        services.rabbit.restart()
        last_fault = time.monotonic()
        publisher.finish()
        wait_charged(stage, run_id, events)
        row = outcome(
            stage,
            BROKER,
            [e.event_id for e in stream],
            ledger_counts(stage, "usage"),
            time.monotonic() - last_fault,
            detail=f"node restarted with {unacked_at_stop} unacked; the publisher reconnected "
            f"{len(publisher.errors)} time(s) after errors, {publisher.connections} connection(s)",
        )
        if publisher.connections + len(publisher.errors) < 2:
            row.problem = "the publisher finished before the restart: it was never made to reconnect"
        return row
