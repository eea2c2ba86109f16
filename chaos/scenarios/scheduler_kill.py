"""Scenario 7: `billing scheduler` SIGKILLed mid-sweep at a month boundary (its clock moved with
--now), exactly between two of the due grants it sends, and at random instants of a looping run:
every annual subscription gets its new month's grant once."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import text

from billing_core.ledger.accounts import create_organization
from billing_core.plans.catalog import set_plan
from billing_core.subscriptions import service
from chaos.outcome import Outcome, outcome
from chaos.scenarios.common import armed, start_worker
from chaos.stage import Services, Stage, scratch_stage, wait_until

NAME = "scheduler-kill"
SUBSCRIBED = datetime(2026, 1, 1, tzinfo=UTC)
BOUNDARY = datetime(2026, 2, 1, 0, 0, 5, tzinfo=UTC)  # the second month of every subscription began


def subscribe_all(stage: Stage, count: int) -> list[str]:
    orgs = [f"org-{i}" for i in range(count)]
    with stage.engine.begin() as c:
        set_plan(c, "pro", SUBSCRIBED, credits_per_month=1_000_000_000, monthly_price_cents=2_000)
        for org in orgs:
            create_organization(c, org)
            service.activate_subscription(
                c, org, "pro", "year", "manual", f"sub-{org}", SUBSCRIBED, SUBSCRIBED
            )
    return orgs


def february_grants(stage: Stage) -> Counter[str]:
    with stage.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT s.organization_id, count(*) FROM credit_grants g "
                "JOIN subscriptions s ON s.id = g.subscription_id WHERE g.period_start = :p "
                "GROUP BY s.organization_id"
            ),
            {"p": datetime(2026, 2, 1, tzinfo=UTC)},
        )
        return Counter({str(o): int(n) for o, n in rows})


def run(services: Services, events: int) -> Outcome:
    with scratch_stage(services, NAME) as stage:
        count = max(40, events // 20)
        orgs = subscribe_all(stage, count)
        rng = random.Random(7)
        start_worker(stage)
        now = BOUNDARY.isoformat()
        at_fault = 0
        for _ in range(3):  # killed between two sends: the sweep committed, some grants were never sent
            sweep = stage.scheduler("--once", "--now", now)
            sweep.start(armed("scheduler:between_grant_sends", after=rng.randint(2, max(3, count // 3))))
            if not sweep.wait_exit(120):
                raise AssertionError("the armed scheduler was never killed at scheduler:between_grant_sends")
            at_fault += sweep.process is not None and sweep.process.returncode == -9
        looping = stage.scheduler("--interval", "0.5", "--now", now)
        for _ in range(2):  # and at random instants of a scheduler that sweeps again and again
            looping.start()
            time.sleep(rng.uniform(0.5, 3.0))
            looping.kill()
        last_fault = time.monotonic()
        # A sweep sends at most 500 due grants: the scheduler sweeps again until none is left.
        final = stage.scheduler("--interval", "1", "--now", now)
        final.start()
        recover = wait_until(
            lambda: len(february_grants(stage)) >= count,
            60,
            lambda: f"{count} February grants; {len(february_grants(stage))} made",
        )
        final.stop()
        stage.wait_drained()
        return outcome(
            stage,
            NAME,
            orgs,
            february_grants(stage),
            max(recover, time.monotonic() - last_fault),
            detail=f"{at_fault} scheduler deaths at scheduler:between_grant_sends, {looping.kills} random "
            f"SIGKILLs; {count} subscriptions",
        )
