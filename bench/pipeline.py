"""`billing bench pipeline`: events through the real Publisher, RabbitMQ and `billing worker`
processes into a scratch ledger; prints figures and whether every event was charged exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from bench.commit_watch import CommitWatch
from bench.raw_broker import raw_broker_rate
from bench.scratch import scratch_database, scratch_queues, seed_bench_prices, wait_for_queue
from billing_core.db.engine import normalize_url
from billing_core.ledger.accounts import create_organization
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.pricing.catalog import load_catalog
from billing_core.pricing.rules import MessageUsage, price_message
from migrations import runner
from producers import MessageCompleted, Publisher, routing, wire
from producers.routing import DEFAULT_PARTITIONS

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet")


@dataclass(frozen=True)
class BenchConfig:
    events: int
    orgs: int
    batch: int
    workers: tuple[int, ...]  # one run per worker-process count, the same load each time
    threads: int
    database_url: str
    broker_url: str
    rate: float | None = None  # events/s published steadily; None: all at once
    budgets: int = 0  # budgets per organization (its agents' daily budgets, soft: the usage is not refused)


def _setup_ledger(engine: Engine, orgs: int, budgets: int = 0) -> None:
    with engine.begin() as c:
        seed_bench_prices(c)
        now = datetime.now(UTC)
        for i in range(orgs):
            create_organization(c, f"org-{i}")
            grant_credits(c, GrantRequest(f"org-{i}", 10**15, "bonus", f"bench-{i}", now), now)
        if budgets:  # every event's agent (agent-0..9) is covered by one of them
            c.execute(
                text(
                    "INSERT INTO budgets (organization_id, scope, scope_id, period, limit_micros, hard) "
                    "SELECT o.id, 'agent', 'agent-' || a, 'day', 10^15, false FROM organizations o "
                    "CROSS JOIN generate_series(0, :n - 1) a"
                ),
                {"n": budgets},
            )


def _make_events(config: BenchConfig) -> list[MessageCompleted]:
    rng = random.Random(42)
    run = f"{time.time_ns():x}"
    return [
        MessageCompleted(
            event_id=f"{run}-{i}",
            organization_id=f"org-{rng.randrange(config.orgs)}",
            agent_id=f"agent-{rng.randrange(10)}",
            model=MODELS[i % 3],
            input_tokens=(inp := rng.randint(100, 4000)),
            cached_input_tokens=rng.randint(0, inp // 2),
            output_tokens=rng.randint(10, 800),
            tools={"web_search": 1} if i % 10 == 0 else {},
        )
        for i in range(config.events)
    ]


class _RssSampler(threading.Thread):
    """Peak resident memory of each worker process (the Dramatiq worker children)."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.peak_mb = 0.0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.25):
            for pid in [self.root_pid, *_descendants(self.root_pid)]:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            frontier.append(child)
    return found


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(
            c.execute(text("SELECT count(*) FROM credit_transactions WHERE type = 'usage'")).scalar_one()
        )


def _publish(config: BenchConfig, prefix: str, events: list[MessageCompleted]) -> dict[str, float]:
    """Publish every event (at `config.rate` events/s, or as fast as confirms allow); returns
    each event's publish time."""
    published_at: dict[str, float] = {}
    step = 1000 if config.rate is None else max(1, int(config.rate / 100))  # 100 steps/s when paced
    started = time.perf_counter()
    with Publisher(config.broker_url, queue_prefix=prefix, max_batch=config.batch) as publisher:
        for n, i in enumerate(range(0, len(events), step)):
            if config.rate is not None:
                time.sleep(max(0.0, started + n * step / config.rate - time.perf_counter()))
            chunk = events[i : i + step]
            now = time.time()
            published_at.update((e.event_id, now) for e in chunk)
            publisher.publish_many(chunk)
    return published_at


def run_once(config: BenchConfig, workers: int) -> dict[str, object]:
    with scratch_database(config.database_url) as db_url, scratch_queues(config.broker_url) as prefix:
        engine = create_engine(normalize_url(db_url), pool_size=2)
        runner.upgrade(engine)
        _setup_ledger(engine, config.orgs, config.budgets)
        events = _make_events(config)
        with engine.connect() as c:
            catalog = load_catalog(c)
        expected_total = sum(
            price_message(
                MessageUsage(e.model, e.input_tokens, e.output_tokens, e.cached_input_tokens, e.tools),
                e.occurred_at,
                catalog,
            ).cost_micros
            for e in events
        )
        sample_body = wire.encode(
            f"{prefix}raw", wire.USAGE_ACTOR, [e.to_wire() for e in events[: config.batch]]
        )
        messages = -(-config.events // config.batch)
        raw_rate = raw_broker_rate(config.broker_url, f"{prefix}raw", messages, sample_body)

        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "BROKER_URL": config.broker_url,
            "BILLING_QUEUE_PREFIX": prefix,
        }
        billing = str(Path(sys.executable).parent / "billing")
        # The workers' own log (group sizes, commit times) goes to BILLING_BENCH_WORKER_LOG if set.
        worker_log = open(os.environ.get("BILLING_BENCH_WORKER_LOG", os.devnull), "ab")
        worker = subprocess.Popen(
            [
                billing,
                "worker",
                "--processes",
                str(workers),
                "--threads",
                str(config.threads),
                "--queues",
                "usage",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
            start_new_session=True,
        )
        sampler = _RssSampler(worker.pid)
        sampler.start()
        watch = CommitWatch(engine)
        try:
            for partition in range(DEFAULT_PARTITIONS):
                wait_for_queue(config.broker_url, f"{prefix}{routing.usage_queue(partition)}")
            time.sleep(1.0)  # let every worker process finish booting
            watch.start()
            started = time.perf_counter()
            published_at = _publish(config, prefix, events)
            published = time.perf_counter() - started
            while len(watch.seen_at) < config.events and time.perf_counter() - started < 600:
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        finally:
            watch.stop()
            sampler.stop_event.set()
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
            worker_log.close()
        with engine.connect() as c:
            rows, distinct, total = c.execute(
                text(
                    "SELECT count(*), count(DISTINCT event_id), COALESCE(-SUM(amount), 0) "
                    "FROM credit_transactions WHERE type = 'usage'"
                )
            ).one()
        latencies = sorted((at - published_at[eid]) * 1000 for eid, at in watch.seen_at.items())
        engine.dispose()
    return {
        "events": config.events,
        "orgs": config.orgs,
        "batch": config.batch,
        "workers": workers,
        "threads": config.threads,
        "rate": config.rate,
        "budgets_per_org": config.budgets,
        "seconds": round(elapsed, 3),
        "publish_seconds": round(published, 3),
        "events_per_s": round(config.events / elapsed, 1),
        "p50_latency_ms": round(_percentile(latencies, 0.5), 1),
        "p99_latency_ms": round(_percentile(latencies, 0.99), 1),
        "exactly_once": rows == distinct == config.events and int(total) == expected_total,
        "raw_broker_msgs_per_s": round(raw_rate, 1),
        "messages": messages,
        "worker_peak_rss_mb": round(sampler.peak_mb, 1),
    }


def main(config: BenchConfig, as_json: bool) -> int:
    """One run per worker count, each printed as a JSON line, then a summary line: the scaling curve."""
    results = []
    for workers in config.workers:
        result = run_once(config, workers)
        results.append(result)
        if not as_json:
            for key, value in result.items():
                print(f"{key:24} {value}")
        print(json.dumps(result), flush=True)
    first = float(results[0]["events_per_s"])  # type: ignore[arg-type]
    summary = {
        "summary": True,
        "workers": list(config.workers),
        "events_per_s": [r["events_per_s"] for r in results],
        "speedup_vs_first": [round(float(r["events_per_s"]) / first, 2) for r in results],  # type: ignore[arg-type]
        "p99_latency_ms": [r["p99_latency_ms"] for r in results],
        "exactly_once": all(r["exactly_once"] for r in results),
    }
    print(json.dumps(summary))
    return 0 if summary["exactly_once"] else 1
