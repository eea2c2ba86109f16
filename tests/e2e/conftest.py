"""End-to-end fixtures: environment for `billing` processes pointed at this test's database and queues."""

from __future__ import annotations

import os

import pytest

from tests.support.processes import WorkerProcess
from tests.support.servers import BROKER_URL


@pytest.fixture
def process_env(database_url: str, queue_prefix: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BROKER_URL": BROKER_URL,
        "BILLING_QUEUE_PREFIX": queue_prefix,
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@pytest.fixture
def spawn_worker(process_env, tmp_path):  # type: ignore[no-untyped-def]
    """Make `billing worker` processes; every one still running is stopped after the test."""
    made: list[WorkerProcess] = []

    def spawn(
        env: dict[str, str] | None = None, threads: int = 4, args: tuple[str, ...] = ()
    ) -> WorkerProcess:
        worker = WorkerProcess(
            env or process_env, tmp_path / f"worker{len(made)}.log", threads=threads, args=args
        )
        made.append(worker)
        return worker

    yield spawn
    for worker in made:
        worker.stop()
