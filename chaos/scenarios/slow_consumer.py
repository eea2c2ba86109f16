"""Scenario 9: a slow consumer. A transaction holds one organization's balance row locked (FOR
UPDATE) for 30 s while a stream for twenty organizations flows: the other organizations' events
must keep being charged during the hold, and nothing may time out into a retry storm; once the lock
goes, the held organization's events are charged, once.

A message is the unit of acknowledgement, and the Publisher packs the events of one partition's
organizations together: the held organization's messages wait (retried with backoff) with the
other events they carry. So the check is on the organizations of the other partitions: all of
their events are charged during the hold."""

from __future__ import annotations

import time

from sqlalchemy import text

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.scenarios.common import start_worker, wait_charged
from chaos.stage import Services, Stage, scratch_stage
from chaos.stream import StreamPublisher, create_orgs, usage_events
from producers.routing import DEFAULT_PARTITIONS, usage_queue_of

NAME = "slow-consumer"
HELD = "org-0"


def charged_among(stage: Stage, event_ids: set[str]) -> int:
    with stage.engine.connect() as c:
        rows = c.execute(text("SELECT DISTINCT event_id FROM credit_transactions WHERE type = 'usage'"))
        return sum(1 for (event_id,) in rows if event_id in event_ids)


def _partition(org: str) -> str:
    return usage_queue_of(org, DEFAULT_PARTITIONS)


def run(services: Services, events: int) -> Outcome:
    with scratch_stage(services, NAME) as stage:
        orgs = create_orgs(stage, 20)
        hold = 30.0 if events >= 1000 else 6.0  # the CI size holds it shorter
        run_id = f"sc{time.time_ns():x}"
        stream = usage_events(run_id, events, orgs)
        others = {e.event_id for e in stream if _partition(e.organization_id) != _partition(HELD)}
        held_messages = sum(1 for e in stream if _partition(e.organization_id) == _partition(HELD)) / 20
        worker = start_worker(stage)
        blocker = stage.engine.connect()
        blocker.begin()
        blocker.execute(text("SELECT * FROM balances WHERE organization_id = :o FOR UPDATE"), {"o": HELD})
        held_since = time.monotonic()
        publisher = StreamPublisher(
            stage, stream, rate=len(stream) / (hold / 2)
        )  # all sent in the first half
        publisher.start()
        publisher.finish()
        time.sleep(max(0.0, held_since + hold - time.monotonic()))  # the hold itself is the fault
        flowed = charged_among(stage, others)
        blocker.rollback()
        blocker.close()
        released = time.monotonic()
        wait_charged(stage, run_id, events)
        retries = worker.log_path.read_text(errors="replace").count("Retrying message")
        row = outcome(
            stage,
            NAME,
            [e.event_id for e in stream],
            ledger_counts(stage, "usage"),
            time.monotonic() - released,
            detail=f"{hold:.0f} s lock on {HELD}'s balance: {flowed}/{len(others)} events of the other "
            f"partitions' organizations charged during it; {retries} retries (backoff)",
        )
        if flowed < len(others):
            row.problem = "the other partitions' organizations did not keep flowing during the lock"
        elif retries > 8 * max(1.0, held_messages):  # exponential backoff: about 6 tries in 30 s
            row.problem = f"a retry storm: {retries} retries for about {held_messages:.0f} held messages"
        return row
