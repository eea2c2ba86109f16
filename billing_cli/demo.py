"""`billing demo`: a demo organization, credits, and a realistic stream of message-completed events.

With BROKER_URL the events go through the real Publisher to RabbitMQ (workers must be running:
`billing up` or `billing worker`); without it they go through an in-process broker to the same actors.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import credits
from billing_cli.processes import start_workers
from billing_core.ledger.accounts import create_organization
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.money import MICROS_PER_CREDIT
from billing_core.queries.balance import balance_view
from billing_core.queries.transactions import count_charged
from producers import MessageCompleted, Publisher

MODELS = [("gpt-4o", 0.45), ("gpt-4o-mini", 0.3), ("claude-sonnet-4-5", 0.2), ("gemini-2.5-flash", 0.05)]


def demo_events(org: str, count: int, rng: random.Random) -> list[MessageCompleted]:
    run = uuid.uuid4().hex[:8]
    start = datetime.now(UTC) - timedelta(minutes=count)
    events = []
    for i in range(count):
        model = rng.choices([m for m, _ in MODELS], weights=[w for _, w in MODELS])[0]
        input_tokens = rng.randint(200, 6000)
        tools = {}
        if rng.random() < 0.15:
            tools["web_search"] = rng.randint(1, 3)
        if rng.random() < 0.03:
            tools["image_generation"] = 1
        events.append(
            MessageCompleted(
                event_id=f"demo-{run}-{i}",
                organization_id=org,
                agent_id=f"agent-{rng.randint(1, 3)}",
                user_id=f"user-{rng.randint(1, 5)}",
                conversation_id=f"conv-{rng.randint(1, 20)}",
                model=model,
                input_tokens=input_tokens,
                cached_input_tokens=rng.randint(0, input_tokens // 2),
                output_tokens=rng.randint(50, 1500),
                tools=tools,
                occurred_at=start + timedelta(minutes=i),
            )
        )
    return events


def run_demo(ctx: CommandContext, *, org: str, count: int) -> int:
    now = utcnow()
    # The demo's messages happened over the last `count` minutes: the welcome credits must already
    # be in effect then, or every message would be charged to the overdraft.
    effective = (now - timedelta(minutes=count + 1)).replace(second=0, microsecond=0)

    def setup(c: Connection) -> None:
        create_organization(c, org, "Demo organization")
        grant_credits(
            c,
            GrantRequest(
                org,
                1000 * MICROS_PER_CREDIT,
                "bonus",
                f"{org}-welcome",
                effective,
                description="Welcome credits",
            ),
            now,
        )

    ctx.write(setup)
    before = ctx.read(lambda c: balance_view(c, org, utcnow())).balance
    events = demo_events(org, count, random.Random())
    ids = [e.event_id for e in events]
    if ctx.settings.broker_url:
        with Publisher(ctx.settings.broker_url, queue_prefix=ctx.settings.queue_prefix) as publisher:
            publisher.publish_many(events)
        print(f"published {count} events to RabbitMQ; waiting for the workers to charge them")
        if not _wait_charged(ctx, ids, timeout=60):
            print(
                "not every event was charged within 60 s: are workers running (billing up / billing worker)?"
            )
            return 1
    else:
        workers = start_workers(ctx.settings, ctx.engine, threads=2)
        try:
            for start in range(0, count, 50):
                workers.send_usage([e.to_wire() for e in events[start : start + 50]])
            workers.drain(workers.queues_of(["usage"]))
        finally:
            workers.stop()
        print(f"sent {count} events through the in-process broker")
    after = ctx.read(lambda c: balance_view(c, org, utcnow()))
    print(
        f"{org}: balance {credits(before)} -> {credits(after.balance)} credits "
        f"({credits(before - after.balance)} used by {count} messages)"
    )
    print(f"see: billing transactions {org} --limit 10")
    return 0


def _wait_charged(ctx: CommandContext, ids: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        charged = ctx.read(lambda c: count_charged(c, ids))
        if charged == len(ids):
            return True
        time.sleep(0.5)
    return False
