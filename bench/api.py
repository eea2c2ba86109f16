"""`billing bench api`: seed a scratch ledger with set-based SQL, then time requests through the real
app (Flask test client: routing, auth, validation, queries, JSON) and print p50/p99 per endpoint.

The seeded ledger is consistent: one bonus grant per organization, usage rows whose balance_after
is the running balance, grants' remaining = balances = Σ transactions, and the daily rollup built
from the rows. Organization org-0 is a "whale" holding a tenth of all rows, so that its deepest
history page (page ~10,000 at 5,000,000 rows) can be compared with its first.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, text

from api.app import create_app
from api.cursor import encode_cursor
from bench.scratch import scratch_database, seed_bench_prices
from billing_core.access.api_keys import create_api_key
from billing_core.access.console_sessions import Identity, app_secret, mac, start_session
from billing_core.db.engine import normalize_url
from billing_core.settings import Settings
from migrations import runner

GRANT = 10**15  # micro-credits per organization: never exhausted by the seeded usage
SPAN_DAYS = 90
TARGETS_MS = {
    "balance": 5,
    "transactions_first": 15,
    "transactions_deep": 15,
    "usage_31d": 30,
    "check_with_budgets": 5,
    "hold_with_budgets": 5,
}


@dataclass(frozen=True)
class ApiBenchConfig:
    transactions: int
    orgs: int
    requests: int
    database_url: str


SEED_USAGE = """
INSERT INTO credit_transactions (organization_id, type, amount, balance_after, idempotency_key,
    payload_hash, reference_type, reference_id, description, user_id, agent_id, event_id, model,
    input_tokens, cached_input_tokens, output_tokens, tools, model_price_id, cost_breakdown,
    allocations, occurred_at, created_at)
SELECT org, 'usage', -cost, :grant - SUM(cost) OVER (PARTITION BY org ORDER BY i), 'usage:ev-' || i,
    'seed', 'event', 'ev-' || i, model || ' message', 'user-' || (i % 20), 'agent-' || (i % 5),
    'ev-' || i, model, inp, 0, outp, tools, price_id,
    CASE WHEN tool_calls > 0 THEN jsonb_build_object('tool:web_search', '1000000') END,
    jsonb_build_array(jsonb_build_object('grant_id', grant_id, 'amount', cost)), at, at
FROM (
    SELECT s.i, s.org, s.inp, s.outp, s.at, s.tool_calls, p.model, p.id AS price_id, g.id AS grant_id,
        CASE WHEN s.tool_calls > 0 THEN '{"web_search": 1}'::jsonb ELSE '{}'::jsonb END AS tools,
        (s.inp * p.input_per_m + s.outp * p.output_per_m)::bigint + s.tool_calls * 1000000 AS cost
    FROM (
        SELECT i, CASE WHEN i % 10 = 0 THEN 'org-0' ELSE 'org-' || (1 + i % (:orgs - 1)) END AS org,
            500 + (i * 37) % 3000 AS inp, 50 + (i * 13) % 700 AS outp, (i % 10 = 5)::int AS tool_calls,
            i % 3 AS m, :start + (:span * i / :n) * interval '1 second' AS at
        FROM generate_series(1, CAST(:n AS bigint)) AS i
    ) s
    JOIN (SELECT row_number() OVER (ORDER BY model) - 1 AS m, id, model, input_per_m, output_per_m
          FROM model_prices) p ON p.m = s.m
    JOIN credit_grants g ON g.organization_id = s.org
) rows ORDER BY i
"""

SEED_TOTALS = [
    # Ten budgets per organization (its agents' daily budgets, hard, far from their limits).
    "INSERT INTO budgets (organization_id, scope, scope_id, period, limit_micros, hard) "
    "SELECT o.id, 'agent', 'agent-' || a, 'day', 10^15, true FROM organizations o "
    "CROSS JOIN generate_series(0, 9) a",
    "UPDATE credit_grants g SET remaining = g.amount - s.used FROM (SELECT organization_id, "
    "-SUM(amount) AS used FROM credit_transactions WHERE type = 'usage' GROUP BY 1) s "
    "WHERE g.organization_id = s.organization_id",
    "UPDATE balances b SET balance = s.total, updated_at = now() FROM (SELECT organization_id, "
    "SUM(amount) AS total FROM credit_transactions GROUP BY 1) s WHERE b.organization_id = s.organization_id",
    "INSERT INTO usage_daily (organization_id, day, model, credits, messages, input_tokens, "
    "cached_input_tokens, output_tokens, tool_calls) SELECT organization_id, "
    "(occurred_at AT TIME ZONE 'UTC')::date, model, -SUM(amount), count(*), SUM(input_tokens), 0, "
    "SUM(output_tokens), SUM(CASE WHEN tools ? 'web_search' THEN 1 ELSE 0 END) "
    "FROM credit_transactions WHERE type = 'usage' GROUP BY 1, 2, 3",
]


def seed(engine: Engine, config: ApiBenchConfig) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    with engine.begin() as c:
        seed_bench_prices(c)
    with engine.begin() as c:
        c.execute(text("SET LOCAL synchronous_commit = off"))
        c.execute(text("SET LOCAL work_mem = '512MB'"))
        params = {"orgs": config.orgs, "start": now.timestamp() - SPAN_DAYS * 86400}
        c.execute(
            text(
                "INSERT INTO organizations (id, name) SELECT 'org-' || i, 'Org ' || i "
                "FROM generate_series(0, :orgs - 1) i"
            ),
            params,
        )
        c.execute(text("INSERT INTO balances (organization_id) SELECT id FROM organizations"))
        c.execute(
            text(
                "INSERT INTO credit_grants (organization_id, source, amount, remaining, effective_at) "
                "SELECT id, 'bonus', :grant, :grant, to_timestamp(:start - 86400) FROM organizations"
            ),
            {**params, "grant": GRANT},
        )
        c.execute(
            text(
                "INSERT INTO credit_transactions (organization_id, type, amount, balance_after, "
                "idempotency_key, payload_hash, reference_type, reference_id, description, allocations, "
                "occurred_at, created_at) SELECT organization_id, 'bonus', amount, amount, "
                "'seed-grant-' || id, 'seed', 'admin', 'seed', 'seed grant', "
                "jsonb_build_array(jsonb_build_object('grant_id', id, 'amount', amount)), "
                "effective_at, effective_at FROM credit_grants ORDER BY id"
            )
        )
        c.execute(
            text(SEED_USAGE),
            {
                "grant": GRANT,
                "orgs": config.orgs,
                "n": config.transactions,
                "span": SPAN_DAYS * 86400,
                "start": datetime.fromtimestamp(params["start"], UTC),
            },
        )
        for statement in SEED_TOTALS:
            c.execute(text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def _deep_cursors(engine: Engine, orgs: list[str]) -> dict[str, str]:
    """For each organization, a cursor whose page is the oldest (deepest) full page of its history."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT o.org, t.id FROM unnest(CAST(:orgs AS text[])) AS o(org) CROSS JOIN LATERAL "
                "(SELECT id FROM credit_transactions WHERE organization_id = o.org "
                "ORDER BY id LIMIT 1 OFFSET 50) t"
            ),
            {"orgs": orgs},
        ).all()
    return {org: encode_cursor(row_id + 1) for org, row_id in rows}


def _time(call: Callable[[int], None], count: int) -> dict[str, float]:
    for i in range(min(50, count)):  # warm up connections, plans and caches
        call(i)
    samples = []
    for i in range(count):
        t0 = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(samples[len(samples) // 2], 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def admin_console_session(engine: Engine, admin_token: str, org: str) -> str:
    """A console session of the admin token (what signing in makes): the cookie's value."""
    with engine.begin() as c:
        admin_mac = mac(app_secret(c), "admin-token", admin_token)
        identity = Identity("admin_token", "admin token", admin_token_mac=admin_mac)
        return start_session(c, identity, org, "bench", datetime.now(UTC))


def measure(engine: Engine, config: ApiBenchConfig) -> dict[str, dict[str, float]]:
    token = secrets.token_urlsafe(24)
    settings = Settings.model_validate(
        {
            "database_url": config.database_url,
            "admin_token": token,
            "api_rate_limit_per_second": 1e9,
            "api_rate_limit_burst": 10**9,
        }
    )
    client = create_app(settings, engine).test_client()
    admin = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    orgs = [f"org-{rng.randrange(1, config.orgs)}" for _ in range(config.requests)]
    deep = _deep_cursors(engine, sorted({*orgs[:200], "org-0"}))
    deep_orgs = [o for o in orgs[:200] if o in deep] or ["org-0"]
    with engine.begin() as c:
        key_org = orgs[0]
        key = create_api_key(c, key_org, "bench", datetime.now(UTC)).secret

    def get(path: str, headers: dict[str, str] = admin) -> None:
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[:200]}")

    def post(path: str, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        response = client.post(path, json=body, headers={**admin, **(headers or {})})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[:200]}")

    session = admin_console_session(engine, token, "org-0")
    client.set_cookie("billing_console", session, path="/console")  # the console's session, as signed in
    console: dict[str, str] = {}

    def page(org: str) -> None:
        response = client.get(f"/console/organizations/{org}/subscription", headers=console)
        html = response.get_data(as_text=True)
        if (
            response.status_code != 200
            or html.count("data-transaction-id=") != 20
            or "usage-chart" not in html
        ):
            raise RuntimeError(f"console page of {org}: {response.status_code} {html[:200]}")

    base = "/v1/organizations"
    scenarios: dict[str, Callable[[int], None]] = {
        "balance": lambda i: get(f"{base}/{orgs[i]}/balance"),
        "balance_api_key": lambda i: get(f"{base}/{key_org}/balance", {"Authorization": f"Bearer {key}"}),
        "transactions_first": lambda i: get(f"{base}/{orgs[i]}/transactions?limit=50"),
        "transactions_deep": lambda i: get(
            f"{base}/{deep_orgs[i % len(deep_orgs)]}/transactions?limit=50"
            f"&cursor={deep[deep_orgs[i % len(deep_orgs)]]}"
        ),
        "transactions_first_whale": lambda i: get(f"{base}/org-0/transactions?limit=50"),
        "transactions_deep_whale": lambda i: get(
            f"{base}/org-0/transactions?limit=50&cursor={deep['org-0']}"
        ),
        "usage_31d": lambda i: get(f"{base}/{orgs[i]}/usage"),
        # Check-balance and a hold for an agent covered by one of its organization's ten budgets.
        "check_with_budgets": lambda i: post(f"{base}/{orgs[i]}/balance/check", {"agent_id": "agent-3"}),
        "hold_with_budgets": lambda i: post(
            f"{base}/{orgs[i]}/holds",
            {"credits": "0.01", "agent_id": "agent-3"},
            {"Idempotency-Key": f"h{i}-{rng.random()}"},
        ),
        "metrics_by_model_31d": lambda i: get(f"{base}/{orgs[i]}/metrics?group_by=model"),
        # The billing console: the whole page (three tabs, nine queries), and Load More deep in a history.
        "console_page": lambda i: page(orgs[i]),
        "console_load_more_deep_whale": lambda i: get(
            f"/console/organizations/org-0/transactions?cursor={deep['org-0']}", console
        ),
    }
    return {name: _time(call, config.requests) for name, call in scenarios.items()}


def run(config: ApiBenchConfig) -> dict[str, object]:
    with scratch_database(config.database_url) as db_url:
        engine = create_engine(normalize_url(db_url), pool_size=4)
        try:
            runner.upgrade(engine)
            seconds = seed(engine, config)
            with engine.connect() as c:
                whale_rows = c.execute(
                    text("SELECT count(*) FROM credit_transactions WHERE organization_id = 'org-0'")
                ).scalar_one()
            figures = measure(engine, config.__class__(**{**vars(config), "database_url": db_url}))
        finally:
            engine.dispose()
    return {
        "transactions": config.transactions,
        "orgs": config.orgs,
        "requests_per_endpoint": config.requests,
        "seed_seconds": round(seconds, 1),
        "whale_deep_page": int(whale_rows) // 50,
        **{f"{name}_{k}": v for name, values in figures.items() for k, v in values.items()},
    }


def main(config: ApiBenchConfig, as_json: bool) -> int:
    result = run(config)
    if not as_json:
        for key, value in result.items():
            target = next(
                (f"  (target p99 <= {t} ms)" for n, t in TARGETS_MS.items() if key == f"{n}_p99_ms"), ""
            )
            print(f"{key:34} {value}{target}")
    print(json.dumps(result))
    return 0
