"""`billing bench http`: the API through the server users run, under concurrent HTTP load.

Seeds a scratch ledger (bench/api.py's seed; `--keep NAME` keeps the database and reuses it next
time), starts `billing api` as a user would, then drives it from other processes:
- throughput: wrk with C keep-alive connections on check-balance (organizations' API keys) and on
  `/healthz` (the framework's ceiling, no I/O), for each `--concurrency`;
- latency at a load: bench/loadgen.py at a fixed 200 requests/s per endpoint;
- a platform's mix (mostly check-balance and balance, some history, usage and metrics), closed loop;
- with `--pipeline-rate R` (needs BROKER_URL), check-balance latency while `billing worker`
  charges R events/s into the same ledger.
Each run prints a JSON line with per-endpoint requests/s, p50, p99, p99.9, errors and the server's
CPU (cores used); a summary line compares with the targets.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, make_url

from bench.api import ApiBenchConfig, _deep_cursors, admin_console_session, seed
from bench.http_drivers import Server, loadgen, wrk
from bench.scratch import scratch_database
from billing_core.access.api_keys import create_api_key
from billing_core.db.engine import normalize_url
from migrations import runner

KEYED_ORGS = 50
LATENCY_RATE = 200.0
TARGETS_P99_MS = {
    "check_api_key": 5,
    "balance": 5,
    "transactions_first": 15,
    "transactions_deep": 15,
    "usage_31d": 15,
    "metrics_31d": 30,
    "console_page": 30,
}


@dataclass(frozen=True)
class HttpBenchConfig:
    transactions: int
    orgs: int
    concurrency: tuple[int, ...]
    duration: float
    processes: int
    threads: int
    database_url: str
    keep: str | None = None
    broker_url: str | None = None
    pipeline_rate: float | None = None


@contextmanager
def ledger(config: HttpBenchConfig) -> Iterator[str]:
    """A seeded database: the kept one if it exists, else a new one (kept with --keep)."""
    if config.keep is None:
        with scratch_database(config.database_url) as scratch:
            _seed(scratch, config)
            yield scratch
        return
    kept = make_url(config.database_url).set(drivername="postgresql", database=config.keep)
    admin = make_url(config.database_url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config.keep]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{config.keep}"')
    rendered = kept.render_as_string(hide_password=False)
    if not exists:
        _seed(rendered, config)
    yield rendered


def _seed(url: str, config: HttpBenchConfig) -> None:
    engine = create_engine(normalize_url(url))
    try:
        runner.upgrade(engine)
        seconds = seed(engine, ApiBenchConfig(config.transactions, config.orgs, 0, url))
        print(
            f"seeded {config.transactions} rows for {config.orgs} organizations in {seconds:.0f} s",
            file=sys.stderr,
        )
    finally:
        engine.dispose()


def _requests(
    engine: Engine, admin: str, keys: dict[str, str], console_cookie: str
) -> dict[str, list[dict[str, Any]]]:
    """The request kinds of the runs, each a list of concrete requests spread over organizations."""
    orgs = sorted(keys)
    deep = _deep_cursors(engine, orgs)
    base = "/v1/organizations"
    bearer = {o: {"Authorization": f"Bearer {k}"} for o, k in keys.items()}
    json_key = {o: {**h, "Content-Type": "application/json"} for o, h in bearer.items()}
    admin_h = {"Authorization": f"Bearer {admin}"}

    def each(
        method: str, path: str, headers: Any, body: str | None = None, expect: tuple[int, ...] = (200,)
    ) -> list[dict[str, Any]]:
        return [
            {
                "method": method,
                "path": path.format(org=o),
                "headers": headers(o),
                "body": body,
                "expect": list(expect),
            }
            for o in orgs
        ]

    return {
        "check_api_key": each("POST", base + "/{org}/balance/check", lambda o: json_key[o], "{}", (200, 402)),
        "balance": each("GET", base + "/{org}/balance", lambda o: admin_h),
        "balance_api_key": each("GET", base + "/{org}/balance", lambda o: bearer[o]),
        "transactions_first": each("GET", base + "/{org}/transactions?limit=50", lambda o: admin_h),
        "transactions_deep": [
            {
                "method": "GET",
                "path": f"{base}/{o}/transactions?limit=50&cursor={deep[o]}",
                "headers": admin_h,
                "expect": [200],
            }
            for o in orgs
            if o in deep
        ],
        "usage_31d": each("GET", base + "/{org}/usage", lambda o: admin_h),
        "metrics_31d": each("GET", base + "/{org}/metrics?group_by=model", lambda o: admin_h),
        "console_page": each(
            "GET", "/console/organizations/{org}/subscription", lambda o: {"Cookie": console_cookie}
        ),
        "hello": [{"method": "GET", "path": "/healthz", "headers": {}, "expect": [200]}],
    }


MIX = {
    "check_api_key": 60,
    "balance_api_key": 20,
    "transactions_first": 8,
    "transactions_deep": 2,
    "usage_31d": 5,
    "metrics_31d": 5,
}


def run(config: HttpBenchConfig) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    with ledger(config) as db_url:
        engine = create_engine(normalize_url(db_url), pool_size=2)
        admin = os.urandom(24).hex()
        with engine.begin() as c:
            keys = {
                f"org-{i}": create_api_key(c, f"org-{i}", "bench http", datetime.now(UTC)).secret
                for i in range(1, min(config.orgs, KEYED_ORGS + 1))
            }
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "ADMIN_TOKEN": admin,
            "BILLING_API_RATE_LIMIT": "1000000000",
            "BILLING_API_RATE_BURST": "1000000000",
            "CONSOLE_SECURE_COOKIE": "false",
        }
        env.pop("BROKER_URL", None)
        kinds = _requests(
            engine, admin, keys, f"billing_console={admin_console_session(engine, admin, 'org-0')}"
        )
        server = Server(env, config.processes, config.threads)
        try:
            warm = [{**r, "name": "warm-up"} for r in kinds["check_api_key"] + kinds["balance"]]
            loadgen(server, warm, 4, 2.0, None)
            for connections in config.concurrency:
                for name in ("check_api_key", "hello"):
                    lines.append(
                        {
                            "run": "throughput",
                            "endpoint": name,
                            **wrk(server, kinds[name], connections, config.duration),
                        }
                    )
                    print(json.dumps(lines[-1]), flush=True)
            for name in TARGETS_P99_MS:
                result = loadgen(
                    server, [{**r, "name": name} for r in kinds[name]], 8, config.duration, LATENCY_RATE
                )
                lines.append(
                    {
                        "run": "latency",
                        "rate": LATENCY_RATE,
                        **result["endpoints"][name],
                        "endpoint": name,
                        "server_cores": result["server_cores"],
                    }
                )
                print(json.dumps(lines[-1]), flush=True)
            mix = [
                {**r, "name": name, "weight": MIX[name] / len(kinds[name])}
                for name in MIX
                for r in kinds[name]
            ]
            result = loadgen(server, mix, 16, config.duration, None)
            lines.append({"run": "mix", "connections": 16, **result})
            print(json.dumps(lines[-1]), flush=True)
            if config.pipeline_rate:
                from bench.http_pipeline import charging

                with charging(db_url, config.broker_url or "", sorted(keys), config.pipeline_rate) as charged:
                    result = loadgen(
                        server,
                        [{**r, "name": "check_api_key"} for r in kinds["check_api_key"]],
                        8,
                        config.duration,
                        LATENCY_RATE,
                    )
                lines.append(
                    {
                        "run": "latency_while_charging",
                        "pipeline_events_per_s": charged(),
                        **result["endpoints"]["check_api_key"],
                        "server_cores": result["server_cores"],
                    }
                )
                print(json.dumps(lines[-1]), flush=True)
        finally:
            server.stop()
            engine.dispose()
    return lines


def main(config: HttpBenchConfig, as_json: bool) -> int:
    lines = run(config)
    summary: dict[str, Any] = {"summary": True, "processes": config.processes, "threads": config.threads}
    for line in lines:
        if line["run"] == "throughput":
            summary[f"{line['endpoint']}_rps_at_{line['connections']}"] = line["requests_per_s"]
            summary[f"{line['endpoint']}_p99_ms_at_{line['connections']}"] = line["p99_ms"]
        elif line["run"] == "latency":
            target = TARGETS_P99_MS[line["endpoint"]]
            summary[f"{line['endpoint']}_p99_ms_at_200rps"] = f"{line['p99_ms']} (target {target})"
        elif line["run"] == "latency_while_charging":
            summary["check_p99_ms_while_charging"] = f"{line['p99_ms']} (target 30)"
    errors = sum(
        int(line.get(key, 0)) for line in lines for key in ("errors", "http_errors", "socket_errors")
    )
    summary["errors"] = errors
    print(json.dumps(summary))
    return 0 if errors == 0 else 1
