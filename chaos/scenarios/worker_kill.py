"""Scenario 1: `billing worker` SIGKILLed at random instants during a stream, then at the fault
point between a usage commit and the message's acknowledgement (the redelivery is a duplicate)."""

from __future__ import annotations

import random
import time

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.scenarios.common import armed, start_worker, wait_charged
from chaos.stage import Services, scratch_stage
from chaos.stream import StreamPublisher, create_orgs, usage_events

NAME = "worker-kill"


def run(services: Services, events: int) -> Outcome:
    with scratch_stage(services, NAME) as stage:
        orgs = create_orgs(stage, 50)
        rng = random.Random(1)
        run_id = f"wk{time.time_ns():x}"
        stream = usage_events(run_id, events, orgs)
        tail = len(stream) // 10  # sent while no worker runs, then consumed by an armed one
        worker = start_worker(stage)
        kills = 20 if events >= 10_000 else 4
        rate = max(500.0, events / 30)
        publisher = StreamPublisher(stage, stream[:-tail], rate)
        publisher.start()
        stream_seconds = len(stream) / rate
        for _ in range(kills):
            time.sleep(rng.uniform(0.05, 2 * stream_seconds / kills))
            worker.kill()
            worker.start()
        publisher.finish()
        worker.stop()
        # The fault point: each armed worker commits a few messages, then dies before acknowledging one.
        StreamPublisher(stage, stream[-tail:], rate=10**6).run()
        injected = 0
        for _ in range(3):
            worker.start(armed("usage:after_commit_before_ack", after=rng.randint(1, 5)))
            if not worker.wait_exit(120):
                raise AssertionError("the armed worker was never killed at usage:after_commit_before_ack")
            injected += 1
        last_fault = time.monotonic()
        worker.start()
        recover = wait_charged(stage, run_id, events)
        recover = max(recover, time.monotonic() - last_fault)
        return outcome(
            stage,
            NAME,
            [e.event_id for e in stream],
            ledger_counts(stage, "usage"),
            recover,
            detail=f"{worker.kills} random SIGKILLs, {injected} at usage:after_commit_before_ack, "
            f"{len(stream) - events} duplicates",
        )
