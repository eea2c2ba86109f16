"""Scenario 8: a refund storm. Every interaction of a stream fails, and its failure report is
delivered before its debit, together with it, or after it; reports also come for interactions
that were never charged; the worker is SIGKILLed in the middle, and once between a refund's
commit and its acknowledgement. Every charged interaction is refunded once, no other one is."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.scenarios.common import armed, start_worker
from chaos.stage import Services, Stage, scratch_stage, wait_until
from chaos.stream import create_orgs
from producers import InteractionFailed, MessageCompleted, Publisher

NAME = "refund-storm"


def failure(event: MessageCompleted) -> InteractionFailed:
    return InteractionFailed(
        event_id=f"failed-{event.event_id}",
        original_event_id=event.event_id,
        organization_id=event.organization_id,
        reason="the model stream was cut",
    )


def publish_storm(stage: Stage, charged: list[MessageCompleted], ghosts: list[MessageCompleted]) -> None:
    """Reports before, with and after their debits, paced over 4-10 s; the ghosts' never come."""
    with Publisher(stage.broker_url, queue_prefix=stage.prefix, max_batch=20, linger_ms=5) as publisher:
        later: list[InteractionFailed] = []
        for start in range(0, len(charged), 30):
            chunk = charged[start : start + 30]
            for i, event in enumerate(chunk):
                if i % 3 == 0:
                    publisher.publish_failure(failure(event))
            publisher.publish_many(chunk)
            for i, event in enumerate(chunk):
                if i % 3 == 1:
                    publisher.publish_failure(failure(event))
            later += [failure(e) for i, e in enumerate(chunk) if i % 3 == 2]
            time.sleep((10 if len(charged) >= 500 else 4) * 30 / len(charged))
        for report in later + [failure(g) for g in ghosts]:
            publisher.publish_failure(report)
        publisher.flush(timeout=120)


def refunds(stage: Stage) -> int:
    return stage.scalar("SELECT count(*) FROM credit_transactions WHERE type = 'refund'")


def run(services: Services, events: int) -> Outcome:
    with scratch_stage(services, NAME) as stage:
        orgs = create_orgs(stage, 20)
        rng = random.Random(8)
        run_id = f"rf{time.time_ns():x}"
        count = max(60, events)
        interactions = [
            MessageCompleted(
                event_id=f"{run_id}-{i}",
                organization_id=orgs[i % len(orgs)],
                agent_id="agent-1",
                model="gpt-4o-mini",
                input_tokens=rng.randint(100, 2000),
                output_tokens=rng.randint(10, 400),
            )
            for i in range(count)
        ]
        ghosts = [
            MessageCompleted(
                event_id=f"{run_id}-ghost-{i}",
                organization_id=orgs[i % len(orgs)],
                agent_id="agent-1",
                model="gpt-4o-mini",
                input_tokens=1,
                output_tokens=1,
            )
            for i in range(count // 10)
        ]
        # The first worker dies at the fault point after a few refund commits; its successor is
        # SIGKILLed in the middle of the storm.
        worker = start_worker(
            stage, extra_env=armed("refund:after_commit_before_ack", after=rng.randint(1, 5))
        )
        publisher = threading.Thread(target=publish_storm, args=(stage, interactions, ghosts), daemon=True)
        publisher.start()
        if not worker.wait_exit(120):
            raise AssertionError("the armed worker was never killed at refund:after_commit_before_ack")
        worker.start()
        wait_until(lambda: refunds(stage) >= count // 2, 120, lambda: f"{count // 2} refunds before the kill")
        worker.kill()
        last_fault = time.monotonic()
        worker.start()
        publisher.join(120)
        recover = wait_until(
            lambda: refunds(stage) >= count, 180, lambda: f"{count} refunds; {refunds(stage)} made"
        )
        stage.wait_drained()
        sent = [e.event_id for e in interactions] + [f"refund:{e.event_id}" for e in interactions]
        applied = ledger_counts(stage, "usage")
        applied.update(Counter({f"refund:{k}": n for k, n in ledger_counts(stage, "refund").items()}))
        return outcome(
            stage,
            NAME,
            sent,
            applied,
            max(recover, time.monotonic() - last_fault),
            detail=f"{count} failed interactions (debits and refunds), {len(ghosts)} reports for "
            f"interactions never charged; {worker.kills} SIGKILL + 1 at refund:after_commit_before_ack",
        )
