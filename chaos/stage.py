"""What every scenario runs on: a scratch database and queue prefix on the private services, the
`billing` processes pointed at them, and bounded waits that say what they were waiting for."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, make_url, text

from bench.scratch import seed_bench_prices
from billing_core.db.engine import normalize_url
from chaos.processes import BILLING, BillingProcess
from chaos.services import PrivatePostgres, PrivateRabbit, free_port
from migrations import runner


@dataclass
class Services:
    """The private instances of one chaos run, shared by its scenarios (one at a time)."""

    postgres: PrivatePostgres
    rabbit: PrivateRabbit
    logs: Path


@contextmanager
def private_services(logs: Path) -> Iterator[Services]:
    postgres, rabbit = PrivatePostgres(), PrivateRabbit()
    logs.mkdir(parents=True, exist_ok=True)
    try:
        postgres.start()
        rabbit.start()
        yield Services(postgres, rabbit, logs)
    finally:
        rabbit.stop()
        postgres.stop()


class WaitTimeout(AssertionError):
    """A bounded wait ran out; its message says what was awaited and what was seen last."""


def wait_until(condition: Callable[[], bool], timeout: float, what: Callable[[], str] | str) -> float:
    """Poll `condition` until it holds; returns the seconds it took. `what` describes the state."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise WaitTimeout(f"waited {timeout:.0f} s for {what() if callable(what) else what}")
        time.sleep(0.1)
    return time.monotonic() - started


@dataclass
class Stage:
    services: Services
    database_url: str
    prefix: str
    engine: Engine
    env: dict[str, str]
    processes: list[BillingProcess] = field(default_factory=list)

    @property
    def broker_url(self) -> str:
        return self.services.rabbit.url

    def _process(self, name: str, args: list[str], health: str | None = None) -> BillingProcess:
        log = self.services.logs / f"{self.prefix}{name}-{len(self.processes)}.log"
        process = BillingProcess(args, self.env, log, health)
        self.processes.append(process)
        return process

    def worker(self, threads: int = 8, queues: str = "all") -> BillingProcess:
        args = ["worker", "--processes", "1", "--threads", str(threads)]
        return self._process("worker", args if queues == "all" else [*args, "--queues", queues])

    def api(self) -> BillingProcess:
        port = free_port()
        args = ["api", "--processes", "1", "--port", str(port)]
        return self._process("api", args, f"http://127.0.0.1:{port}/healthz")

    def webhooks(self) -> BillingProcess:
        port = free_port()
        return self._process(
            "webhooks", ["webhooks", "--port", str(port)], f"http://127.0.0.1:{port}/healthz"
        )

    def scheduler(self, *args: str) -> BillingProcess:
        return self._process("scheduler", ["scheduler", *args])

    def scalar(self, sql: str, **params: object) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text(sql), params).scalar_one())

    def queue_backlog(self) -> tuple[int, int]:
        """(ready, unacknowledged) over every queue of this stage, delayed retries included."""
        counts = self.services.rabbit.queue_counts(self.prefix).values()
        return sum(r for r, _ in counts), sum(u for _, u in counts)

    def wait_drained(self, timeout: float = 120) -> float:
        def describe() -> str:
            ready, unacked = self.queue_backlog()
            return f"the queues of {self.prefix} to drain; {ready} ready, {unacked} unacked"

        return wait_until(lambda: self.queue_backlog() == (0, 0), timeout, describe)

    def reconcile(self) -> str:
        result = subprocess.run(
            [BILLING, "reconcile"], env=self.env, capture_output=True, text=True, timeout=120
        )
        return "ok" if result.returncode == 0 else f"failed: {(result.stdout + result.stderr).strip()[-300:]}"

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        self.engine.dispose()


@contextmanager
def scratch_stage(services: Services, name: str, extra_env: dict[str, str] | None = None) -> Iterator[Stage]:
    """A migrated database with the bench prices and a queue prefix of its own; dropped afterwards."""
    db = f"chaos_{name}_{uuid.uuid4().hex[:6]}"
    admin = services.postgres.url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = make_url(admin).set(database=db).render_as_string(hide_password=False)
    engine = create_engine(normalize_url(url), pool_size=2, pool_pre_ping=True)
    runner.upgrade(engine)
    with engine.begin() as c:
        seed_bench_prices(c)
    prefix = f"{name.replace('-', '')}{uuid.uuid4().hex[:6]}_"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BROKER_URL": services.rabbit.url,
        "BILLING_QUEUE_PREFIX": prefix,
        "BILLING_STANDBY_DELAY": "0.5",
        "BILLING_DEAD_LETTER_INTERVAL": "1",
        "LOG_FORMAT": "text",
        **(extra_env or {}),
    }
    for key in ("BILLING_FAULT", "BILLING_FAULT_ACTION", "BILLING_FAULT_AFTER", "PYTEST_CURRENT_TEST"):
        if key not in (extra_env or {}):
            env.pop(key, None)
    stage = Stage(services, url, prefix, engine, env)
    try:
        yield stage
    finally:
        stage.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
