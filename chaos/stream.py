"""The usage streams the scenarios send: bench-priced events over many organizations, with
duplicates mixed in (an event sent again later, as a producer retrying would), published from a
thread at a steady rate by the real Publisher."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from billing_core.ledger.accounts import create_organization
from billing_core.ledger.grants import GrantRequest, grant_credits
from chaos.stage import Stage
from producers import BrokerUnavailable, MessageCompleted, Publisher, PublishError

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet")
T = TypeVar("T")
DUPLICATE_EVERY = 20  # one event in 20 is sent a second time, later in the stream


def create_orgs(stage: Stage, count: int, credits: int = 10**15) -> list[str]:
    orgs = [f"org-{i}" for i in range(count)]
    now = datetime.now(UTC)
    with stage.engine.begin() as c:
        for org in orgs:
            create_organization(c, org)
            grant_credits(c, GrantRequest(org, credits, "bonus", f"seed-{org}", now), now)
    return orgs


def usage_events(run: str, count: int, orgs: list[str], seed: int = 7) -> list[MessageCompleted]:
    """`count` distinct events, and every DUPLICATE_EVERY-th of them again a little later."""
    rng = random.Random(seed)
    distinct = [
        MessageCompleted(
            event_id=f"{run}-{i}",
            organization_id=orgs[rng.randrange(len(orgs))],
            agent_id=f"agent-{rng.randrange(10)}",
            model=MODELS[i % 3],
            input_tokens=rng.randint(100, 4000),
            output_tokens=rng.randint(10, 800),
        )
        for i in range(count)
    ]
    stream: list[MessageCompleted] = []
    for i, event in enumerate(distinct):
        stream.append(event)
        if i >= 50 and i % DUPLICATE_EVERY == 0:
            stream.append(distinct[i - rng.randint(1, 50)])
    return stream


class StreamPublisher(threading.Thread):
    """Publish `events` at about `rate` events/s; when the broker refuses or the connection cannot
    be had, publish the unconfirmed part again with a new Publisher (the producer's contract: the
    event ids make a repeat a duplicate). `url` (the stage's broker by default), `flush_every`
    (chunks between flushes), `flush_timeout` and `options` (more Publisher arguments) shape the
    publisher; `failed_calls` holds, per failure, when the call raised (time.monotonic()), the
    seconds it had taken and its name."""

    def __init__(
        self,
        stage: Stage,
        events: list[MessageCompleted],
        rate: float,
        chunk: int = 50,
        *,
        url: str | None = None,
        flush_every: int = 20,
        flush_timeout: float = 120,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="chaos-publisher")
        self.stage = stage
        self.events = events
        self.rate = rate
        self.chunk = chunk
        self.url = url or stage.broker_url
        self.flush_every = flush_every
        self.flush_timeout = flush_timeout
        self.options = options or {}
        self.errors: list[BaseException] = []
        self.failed_calls: list[tuple[float, float, str]] = []
        self.republished = 0
        self.connections = 0
        self._confirmed_up_to = 0

    def run(self) -> None:
        start = 0
        deadline = time.monotonic() + 600
        while start < len(self.events) and time.monotonic() < deadline:
            try:
                self._publish_from(start)
                return
            except (PublishError, BrokerUnavailable, OSError) as error:
                self.republished += 1
                self.errors.append(error)
                start = max(0, self._confirmed_up_to)
                time.sleep(0.5)

    def _timed(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking call of the Publisher; if it raises, how long it took is kept."""
        started = time.monotonic()
        try:
            return call(*args, **kwargs)
        except BaseException:
            self.failed_calls.append((time.monotonic(), time.monotonic() - started, call.__name__))
            raise

    def _publish_from(self, start: int) -> None:
        publisher = self._timed(
            Publisher, self.url, queue_prefix=self.stage.prefix, max_batch=20, linger_ms=5, **self.options
        )
        with publisher:
            began = time.monotonic()
            for n, i in enumerate(range(start, len(self.events), self.chunk)):
                time.sleep(max(0.0, began + n * self.chunk / self.rate - time.monotonic()))
                self._timed(publisher.publish_many, self.events[i : i + self.chunk])
                if n % self.flush_every == self.flush_every - 1:  # a later failure republishes what follows
                    self._timed(publisher.flush, timeout=self.flush_timeout)
                    self._confirmed_up_to = i + self.chunk
            self._timed(publisher.flush, timeout=self.flush_timeout)
            self.connections += publisher.connections_opened

    def finish(self, timeout: float = 300) -> None:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"the publisher was still publishing after {timeout} s")
        if len(self.errors) > 20:
            raise AssertionError(f"the publisher failed {len(self.errors)} times: {self.errors[-1]!r}")
