"""The admin CLI as an operator runs it: a real `billing` process against a fresh database."""

from __future__ import annotations

import json
import os
import subprocess

from sqlalchemy import create_engine, text

from tests.support.processes import BILLING, billing


def test_an_operator_migrates_seeds_prices_grants_credits_and_reads_the_balance(empty_database_url):
    url = empty_database_url
    assert "database at revision" in billing(url, "migrate").stdout
    assert "already up to date" in billing(url, "migrate").stdout
    assert "seeded" in billing(url, "prices", "seed").stdout
    assert "0 model prices" in billing(url, "prices", "seed").stdout
    billing(
        url,
        "prices",
        "set",
        "my-model",
        "--input",
        "2.5",
        "--output",
        "10",
        "--effective-at",
        "2026-01-01T00:00:00Z",
    )
    billing(url, "prices", "set-tool", "web_search", "--per-call", "1.5")
    catalog = json.loads(billing(url, "prices", "list", "--json").stdout)
    mine = [m for m in catalog["models"] if m["model"] == "my-model"]
    assert mine == [
        {
            "id": mine[0]["id"],
            "model": "my-model",
            "effective_at": "2026-01-01T00:00:00+00:00",
            "input_per_m": "2.5",
            "cached_input_per_m": "2.5",
            "output_per_m": "10",
            "source": "manual",
        }
    ]
    gpt4o = [m for m in catalog["models"] if m["model"] == "gpt-4o"]
    assert gpt4o and gpt4o[0]["input_per_m"] == "250"  # US$2.50 per 1M at 1 credit = US$0.01
    assert {t["tool"] for t in catalog["tools"]} == {"web_search", "image_generation"}

    billing(url, "orgs", "create", "acme", "--name", "Acme Corp")
    march = ("credits", "grant", "acme", "1000", "--type", "subscription_credit")
    march += ("--expires-at", "2099-01-01T00:00:00Z", "--idempotency-key", "march")
    billing(url, *march)
    repeat = billing(url, *march)
    assert "nothing changed" in repeat.stdout
    billing(url, "credits", "grant", "acme", "12.5", "--idempotency-key", "welcome-bonus")
    view = json.loads(billing(url, "balance", "acme", "--json").stdout)
    assert view["balance"] == "1012.500000"
    assert view["allocated"] == "1012.500000" and view["used"] == "0.000000"
    assert view["overdraft"] == "0.000000" and view["remaining_percent"] == "100.00"
    history = json.loads(billing(url, "transactions", "acme", "--limit", "1", "--json").stdout)
    assert [r["type"] for r in history["data"]] == ["bonus"] and history["has_more"] is True
    assert history["data"][0]["amount"] == "12.500000"
    assert billing(url, "reconcile").returncode == 0


def test_bad_input_gets_a_clear_error_and_changes_nothing(empty_database_url):
    url = empty_database_url
    billing(url, "migrate")
    billing(url, "orgs", "create", "acme")
    conflict = billing(url, "credits", "grant", "acme", "5", "--idempotency-key", "k", check=False)
    assert conflict.returncode == 0
    changed = billing(url, "credits", "grant", "acme", "6", "--idempotency-key", "k", check=False)
    assert changed.returncode == 2 and "already used with a different payload" in changed.stderr
    too_precise = billing(url, "credits", "grant", "acme", "0.0000001", "--idempotency-key", "p", check=False)
    assert too_precise.returncode == 2 and "6 decimal places" in too_precise.stderr
    naive = billing(
        url,
        "credits",
        "grant",
        "acme",
        "1",
        "--expires-at",
        "2030-01-01T00:00",
        "--idempotency-key",
        "n",
        check=False,
    )
    assert naive.returncode == 2 and "timezone" in naive.stderr
    billing(url, "orgs", "create", "owned-1", "--owner", "ana")
    limited = billing(url, "orgs", "create", "owned-2", "--owner", "ana", check=False)
    assert limited.returncode == 2 and "at most 1 organizations" in limited.stderr
    unknown = billing(url, "balance", "ghost", check=False)
    assert unknown.returncode == 2 and "unknown organization 'ghost'" in unknown.stderr
    assert json.loads(billing(url, "balance", "acme", "--json").stdout)["balance"] == "5.000000"


def test_reconcile_is_clean_until_a_balance_row_is_corrupted(empty_database_url):
    url = empty_database_url
    billing(url, "migrate")
    billing(url, "orgs", "create", "acme")
    billing(url, "credits", "grant", "acme", "100", "--idempotency-key", "g")
    clean = json.loads(billing(url, "reconcile", "--json").stdout)
    assert clean == {"ok": True, "violations": []}
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("UPDATE balances SET balance = balance + 1 WHERE organization_id = 'acme'"))
    engine.dispose()
    broken = billing(url, "reconcile", "--json", check=False)
    assert broken.returncode == 1
    invariants = {v["invariant"] for v in json.loads(broken.stdout)["violations"]}
    assert "balance equals the sum of transactions" in invariants


def test_output_into_a_pipe_whose_reader_went_away_ends_quietly(empty_database_url):
    """`billing prices list --json | head`: head exits early; billing stops without a traceback."""
    billing(empty_database_url, "migrate")
    billing(empty_database_url, "prices", "seed")
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    command = [BILLING, "prices", "list", "--json"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before anything is written
        errors = process.stderr.read().decode()
        assert process.wait(timeout=120) == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors


def test_billing_down_with_a_database_url_has_nothing_to_stop(database_url):
    assert "no embedded PostgreSQL to stop" in billing(database_url, "down").stdout
