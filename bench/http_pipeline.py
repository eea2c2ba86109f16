"""Usage charged in the background of an HTTP run: `billing worker` and a Publisher at a steady rate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.scratch import delete_queues, wait_for_queue
from billing_core.settings import Settings
from producers import MessageCompleted, Publisher, routing

BILLING = str(Path(sys.executable).parent / "billing")


@contextmanager
def charging(db_url: str, broker_url: str, orgs: list[str], rate: float) -> Iterator[Callable[[], float]]:
    """While inside, events for `orgs` are published at `rate`/s and charged by a worker; yields a
    function giving the rate actually published (every event is confirmed by the broker)."""
    if not broker_url:
        raise RuntimeError("--pipeline-rate needs BROKER_URL")
    prefix = f"benchhttp{uuid.uuid4().hex[:6]}_"
    env = {**os.environ, "DATABASE_URL": db_url, "BROKER_URL": broker_url, "BILLING_QUEUE_PREFIX": prefix}
    worker = subprocess.Popen(
        [BILLING, "worker", "--processes", "1", "--queues", "usage"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stop = threading.Event()
    published = [0]
    started = [time.perf_counter()]

    def publish() -> None:
        with Publisher(broker_url, queue_prefix=prefix, max_batch=100) as publisher:
            started[0] = time.perf_counter()
            n = 0
            while not stop.is_set():
                step = max(1, int(rate / 100))
                time.sleep(max(0.0, started[0] + n / rate - time.perf_counter()))
                publisher.publish_many(
                    MessageCompleted(
                        event_id=f"{prefix}{n + i}",
                        organization_id=orgs[(n + i) % len(orgs)],
                        agent_id="agent-1",
                        model="gpt-4o-mini",
                        input_tokens=800,
                        output_tokens=200,
                    )
                    for i in range(step)
                )
                n += step
                published[0] = n

    thread = threading.Thread(target=publish, daemon=True)
    try:
        for partition in range(routing.DEFAULT_PARTITIONS):
            wait_for_queue(broker_url, f"{prefix}{routing.usage_queue(partition)}")
        thread.start()
        time.sleep(2.0)  # reach the steady state before the measured run
        yield lambda: round(published[0] / (time.perf_counter() - started[0]), 1)
    finally:
        stop.set()
        thread.join(timeout=30)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        delete_queues(broker_url, Settings.model_validate({"queue_prefix": prefix}))
