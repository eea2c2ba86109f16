"""`billing bench ingest`: the same usage through HTTP (HttpPublisher -> `billing api` -> RabbitMQ,
with confirms) and through AMQP (the Publisher -> RabbitMQ), charged by the same `billing worker`
processes into a scratch ledger. Prints events/s per path (until every event is in the ledger),
the HTTP request latency (p50/p99) at full speed and at half the HTTP path's rate, and whether
every event was charged exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench.http_drivers import Server
from bench.scratch import scratch_database, scratch_queues, seed_bench_prices, wait_for_queue
from billing_core.access.service_keys import INGEST, create_service_key
from billing_core.db.engine import normalize_url
from billing_core.ledger.accounts import create_organization
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.pricing.catalog import load_catalog
from billing_core.pricing.rules import MessageUsage, price_message
from migrations import runner
from producers import HttpPublisher, MessageCompleted, Publisher, routing
from producers.routing import DEFAULT_PARTITIONS

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet")


@dataclass(frozen=True)
class IngestBenchConfig:
    events: int
    orgs: int
    batch: int
    concurrency: int
    workers: int
    api_processes: int
    database_url: str
    broker_url: str


def _events(config: IngestBenchConfig, path: str, count: int) -> list[MessageCompleted]:
    rng = random.Random(path)
    return [
        MessageCompleted(
            event_id=f"{path}-{i}",
            organization_id=f"org-{rng.randrange(config.orgs)}",
            agent_id=f"agent-{rng.randrange(10)}",
            model=MODELS[i % 3],
            input_tokens=(inp := rng.randint(100, 4000)),
            cached_input_tokens=rng.randint(0, inp // 2),
            output_tokens=rng.randint(10, 800),
            tools={"web_search": 1} if i % 10 == 0 else {},
        )
        for i in range(count)
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _charged(engine: Engine, path: str) -> tuple[int, int, int]:
    """Rows, distinct event ids and total debited (µcr) of one path's events."""
    with engine.connect() as c:
        rows, distinct, total = c.execute(
            text(
                "SELECT count(*), count(DISTINCT event_id), COALESCE(-SUM(amount), 0) "
                "FROM credit_transactions WHERE type = 'usage' AND event_id LIKE :path"
            ),
            {"path": f"{path}-%"},
        ).one()
    return int(rows), int(distinct), int(total)


def _last_id(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT COALESCE(max(id), 0) FROM credit_transactions")).scalar_one())


def _wait_charged(engine: Engine, floor: int, count: int, started: float, timeout: float = 900) -> float:
    """Seconds from `started` until `count` usage rows above id `floor` are committed (the paths
    run one after the other: every new row is the running path's; a repeat adds no row)."""
    query = text("SELECT count(*) FROM credit_transactions WHERE id > :floor AND type = 'usage'")
    with engine.connect() as c:
        while int(c.execute(query, {"floor": floor}).scalar_one()) < count:
            c.rollback()
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"not every event charged within {timeout} s")
            time.sleep(0.05)
    return time.perf_counter() - started


def _result(engine: Engine, path: str, events: list[MessageCompleted], seconds: float) -> dict[str, Any]:
    with engine.connect() as c:
        catalog = load_catalog(c)
    expected = sum(
        price_message(
            MessageUsage(e.model, e.input_tokens, e.output_tokens, e.cached_input_tokens, e.tools),
            e.occurred_at,
            catalog,
        ).cost_micros
        for e in events
    )
    rows, distinct, total = _charged(engine, path)
    exactly_once = rows == distinct == len(events) and total == expected
    return {
        "events": len(events),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(events) / seconds, 1),
        "exactly_once": exactly_once,
    }


def _http(
    config: IngestBenchConfig, engine: Engine, url: str, key: str, path: str, count: int, rate: float | None
) -> dict[str, Any]:
    events = _events(config, path, count)
    floor = _last_id(engine)
    latencies: list[float] = []
    observe = lambda n, seconds: latencies.append(seconds * 1000)  # noqa: E731
    started = time.perf_counter()
    publisher = HttpPublisher(
        url, key, max_batch=config.batch, concurrency=config.concurrency, on_request=observe
    )
    with publisher:
        for n, start in enumerate(range(0, count, config.batch)):
            if rate is not None:
                time.sleep(max(0.0, started + n * config.batch / rate - time.perf_counter()))
            publisher.publish_many(events[start : start + config.batch])
    seconds = _wait_charged(engine, floor, count, started)
    return {
        **_result(engine, path, events, seconds),
        "rate": rate,
        "requests": len(latencies),
        "p50_request_ms": round(_percentile(latencies, 0.5), 1),
        "p99_request_ms": round(_percentile(latencies, 0.99), 1),
    }


def _amqp(config: IngestBenchConfig, engine: Engine, prefix: str, path: str) -> dict[str, Any]:
    events = _events(config, path, config.events)
    floor = _last_id(engine)
    started = time.perf_counter()
    with Publisher(config.broker_url, queue_prefix=prefix, max_batch=config.batch) as publisher:
        for start in range(0, len(events), 1000):
            publisher.publish_many(events[start : start + 1000])
    return _result(engine, path, events, _wait_charged(engine, floor, len(events), started))


def _prepare(engine: Engine, orgs: int) -> str:
    with engine.begin() as c:
        seed_bench_prices(c)
        now = datetime.now(UTC)
        for i in range(orgs):
            create_organization(c, f"org-{i}")
            grant_credits(c, GrantRequest(f"org-{i}", 10**15, "bonus", f"bench-{i}", now), now)
        return create_service_key(c, "bench ingest", [INGEST], now).secret


def run(config: IngestBenchConfig) -> dict[str, Any]:
    with scratch_database(config.database_url) as db_url, scratch_queues(config.broker_url) as prefix:
        engine = create_engine(normalize_url(db_url), pool_size=2)
        runner.upgrade(engine)
        key = _prepare(engine, config.orgs)
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "BROKER_URL": config.broker_url,
            "BILLING_QUEUE_PREFIX": prefix,
            "BILLING_API_RATE_LIMIT": "1000000",
            "BILLING_API_RATE_BURST": "1000000",
        }
        billing = str(Path(sys.executable).parent / "billing")
        worker = subprocess.Popen(
            [
                billing,
                "worker",
                "--processes",
                str(config.workers),
                "--threads",
                "64",
                "--queues",
                "usage,refunds",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = None
        try:
            for partition in range(DEFAULT_PARTITIONS):
                wait_for_queue(config.broker_url, f"{prefix}{routing.usage_queue(partition)}")
            server = Server(env, config.api_processes, threads=8)
            url = f"http://127.0.0.1:{server.port}"
            _http(config, engine, url, key, "warm", config.batch * 20, None)  # connections, caches
            amqp = _amqp(config, engine, prefix, "amqp")
            http = _http(config, engine, url, key, "http", config.events, None)
            half = _http(config, engine, url, key, "half", config.events // 2, http["events_per_s"] / 2)
        finally:
            if server is not None:
                server.stop()
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
            engine.dispose()
    return {
        "events": config.events,
        "orgs": config.orgs,
        "batch": config.batch,
        "concurrency": config.concurrency,
        "workers": config.workers,
        "api_processes": config.api_processes,
        "amqp": amqp,
        "http": http,
        "http_at_half_rate": half,
        "http_vs_amqp": round(http["events_per_s"] / amqp["events_per_s"], 2),
        "exactly_once": amqp["exactly_once"] and http["exactly_once"] and half["exactly_once"],
    }


def main(config: IngestBenchConfig, as_json: bool) -> int:
    result = run(config)
    if not as_json:
        for path in ("amqp", "http", "http_at_half_rate"):
            figures = result[path]
            line = (
                f"{path:18} {figures['events_per_s']:>10} events/s  exactly once: {figures['exactly_once']}"
            )
            if "p99_request_ms" in figures:
                line += f"  requests p50 {figures['p50_request_ms']} ms, p99 {figures['p99_request_ms']} ms"
            print(line)
        print(f"http / amqp        {result['http_vs_amqp']}")
    print(json.dumps(result), flush=True)
    return 0 if result["exactly_once"] else 1
