"""What an operator sees of real processes: the scraped counters equal what happened, every log
line is a JSON event with its ids, request ids round-trip, and no secret reaches a log line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from producers import wire
from tests.support.ledger import create_org, grant, setup_prices
from tests.support.metrics import free_port, scrape
from tests.support.pipeline import (
    completed,
    publish_raw,
    rejected,
    usage_queue,
    usage_rows,
    wait_for_usage_queues,
    wait_until,
    wait_until_broker_idle,
)
from tests.support.processes import BILLING, billing
from tests.support.servers import BROKER_URL
from tests.support.webhook_payloads import (
    RECURRENTE_SECRET,
    STRIPE_SECRET,
    dumps,
    recurrente_payment_succeeded,
    sign_recurrente,
    sign_stripe,
    stripe_invoice_paid,
)

ADMIN = "admin-token-observability"
FIELDS = {"ts", "level", "process", "pid", "logger", "message"}


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a process's output, each of which must be one JSON event."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    for event in events:
        assert FIELDS <= set(event), event
    return events


def _message(org: str, events: list[dict[str, Any]], prefix: str) -> None:
    queue = usage_queue(prefix, org)
    publish_raw(BROKER_URL, queue, wire.encode(queue, wire.USAGE_ACTOR, events))


def test_worker_metrics_count_what_happened_and_every_log_line_is_json(
    engine, process_env, queue_prefix, spawn_worker, tmp_path
):
    setup_prices(engine)
    orgs = [f"org-{i}" for i in range(10)]
    for org in orgs:
        create_org(engine, org)
        grant(engine, org, 1_000, f"seed-{org}")
    port = free_port()
    env = {**process_env, "BILLING_METRICS_PORT": str(port), "LOG_FORMAT": "json"}
    worker = spawn_worker(env, args=("--processes", "2"))
    worker.start()
    wait_for_usage_queues(BROKER_URL, queue_prefix)

    # Ten messages of five events each, one organization per message: 50 debits of 1-5 credits.
    charged = {org: [completed(f"{org}-{i}", org=org, output_tokens=1 + i) for i in range(5)] for org in orgs}
    for org, events in charged.items():
        _message(org, [e.to_wire() for e in events], queue_prefix)
    wait_until(lambda: usage_rows(engine) == 50, what="the 50 debits")
    _message("org-0", [e.to_wire() for e in charged["org-0"]], queue_prefix)  # 5 duplicates
    conflicting = completed("org-1-0", org="org-1", output_tokens=99).to_wire()
    _message("org-1", [conflicting], queue_prefix)
    unknown = [completed(f"u-{i}", org="org-2", model="no-such-model").to_wire() for i in range(2)]
    _message("org-2", unknown, queue_prefix)
    _message("ghost", [completed("g-1", org="ghost").to_wire()], queue_prefix)
    _message("org-3", [{"event_id": "bad-1", "organization_id": "org-3"}], queue_prefix)
    wait_until(lambda: len(rejected(engine)) == 5, what="the five rejections")
    wait_until_broker_idle(queue_prefix)

    metrics = scrape(port)
    events = "billing_usage_events_total"
    assert metrics.total(events, outcome="charged") == 50
    assert metrics.total(events, outcome="duplicate") == 5
    assert metrics.total(events, outcome="conflict") == 1
    assert metrics.total(events, outcome="rejected", reason="unknown_model") == 2
    assert metrics.total(events, outcome="rejected", reason="unknown_organization") == 1
    assert metrics.total(events, outcome="rejected", reason="malformed") == 1
    assert metrics.total("billing_usage_debited_credits_total") == 10 * (1 + 2 + 3 + 4 + 5)
    assert metrics.total("billing_usage_group_commit_events_sum") == 60
    # One observation per message: 15 published; 13 had an event that could be priced.
    assert metrics.total("billing_usage_lag_seconds_count", since="published") == 15
    assert metrics.total("billing_usage_lag_seconds_count", since="occurred") == 13
    assert metrics.total("billing_worker_processes") == 2
    health = billing(process_env["DATABASE_URL"], "health", "worker", "--port", str(port), check=False)
    assert health.returncode == 0, health.stdout
    worker.stop()
    assert billing(
        process_env["DATABASE_URL"], "health", "worker", "--port", str(port), check=False
    ).returncode

    lines = json_lines(worker.log_path)
    assert len({e["pid"] for e in lines}) >= 3, "the supervisor and both children log"
    assert {e["process"] for e in lines} == {"worker"}
    unknown_model = [e for e in lines if e["message"] == "usage event rejected: unknown_model"]
    assert {(e["event_id"], e["organization_id"]) for e in unknown_model} == {
        ("u-0", "org-2"),
        ("u-1", "org-2"),
    }


def _call(
    base: str,
    method: str,
    path: str,
    token: str | None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    """(status, headers (case-insensitive), JSON body)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=dict(headers or {}))
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None and not isinstance(body, bytes):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


class Server:
    """A `billing` server process, its log (stderr) in a file, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        with open(log, "wb") as err:
            self.process = subprocess.Popen([BILLING, *args], env=env, stdout=subprocess.DEVNULL, stderr=err)

    def wait_until_serving(self, base: str) -> None:
        def answers() -> bool:
            assert self.process.poll() is None, self.log.read_text()
            try:
                return _call(base, "GET", "/healthz", None)[0] == 200
            except OSError:
                return False

        wait_until(answers, what=f"{base} to answer")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def test_api_metrics_request_ids_and_no_secret_in_the_logs(database_url, engine, tmp_path):
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": ADMIN,
        "BILLING_METRICS_PORT": str(metrics_port),
        "LOG_FORMAT": "json",
    }
    base = f"http://127.0.0.1:{port}"
    server = Server(env, tmp_path / "api.log", "api", "--port", str(port), "--processes", "2")
    try:
        server.wait_until_serving(base)
        assert _call(base, "POST", "/v1/organizations", ADMIN, {"id": "acme"})[0] == 201
        status, _, created = _call(base, "POST", "/v1/organizations/acme/api-keys", ADMIN, {"name": "ci"})
        assert status == 201
        key = created["key"]
        check = "/v1/organizations/acme/balance/check"
        assert _call(base, "POST", check, key, {})[0] == 402  # nothing granted yet
        credits = "/v1/organizations/acme/credits"
        assert _call(base, "POST", credits, ADMIN, {"credits": "10"}, {"Idempotency-Key": "g-1"})[0] == 201
        assert _call(base, "POST", check, key, {})[0] == 200
        for _ in range(7):
            assert _call(base, "GET", "/v1/organizations/acme/balance", key)[0] == 200
        _, echoed, _ = _call(
            base, "GET", "/v1/organizations/acme/balance", key, headers={"X-Request-ID": "req-42"}
        )
        assert echoed["X-Request-ID"] == "req-42"
        _, made, _ = _call(base, "GET", "/healthz", None, headers={"X-Request-ID": "bad id\twith spaces"})
        assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != "bad id\twith spaces"
        assert _call(base, "GET", "/v1/organizations/acme/balance", "not-a-key")[0] == 401
        metrics = scrape(metrics_port)  # the sum over both server processes
    finally:
        server.stop()

    assert metrics.total("billing_balance_checks_total", outcome="insufficient") == 1
    assert metrics.total("billing_balance_checks_total", outcome="sufficient") == 1
    balance = {"app": "api", "route": "/v1/organizations/<org>/balance", "method": "GET"}
    assert metrics.total("billing_http_request_duration_seconds_count", **balance, status="200") == 8
    assert metrics.total("billing_http_request_duration_seconds_count", **balance, status="401") == 1
    lines = json_lines(server.log)
    access = [e for e in lines if e["logger"] == "billing.access"]
    assert [e["route"] for e in access if e.get("request_id") == "req-42"] == [balance["route"]]
    assert {e["process"] for e in lines} == {"api"}
    text = server.log.read_text()
    for secret in (ADMIN, key, "not-a-key"):
        assert secret not in text


def test_webhook_metrics_and_no_signature_or_secret_in_the_logs(database_url, tmp_path):
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "RECURRENTE_WEBHOOK_SECRET": RECURRENTE_SECRET,
        "BILLING_METRICS_PORT": str(metrics_port),
        "LOG_FORMAT": "json",
    }
    env.pop("BROKER_URL", None)  # rows wait for the scheduler's sweep: no queue needed here
    base = f"http://127.0.0.1:{port}"
    server = Server(env, tmp_path / "webhooks.log", "webhooks", "--port", str(port))
    body = dumps(stripe_invoice_paid())
    good = sign_stripe(body)
    forged = sign_stripe(body, secret="whsec_forged_secret_value")
    recurrente = dumps(recurrente_payment_succeeded())
    svix = sign_recurrente(recurrente, "msg_observed")
    try:
        server.wait_until_serving(base)
        stripe_path, svix_path = "/webhooks/stripe", "/webhooks/recurrente"
        assert _call(base, "POST", stripe_path, None, body.encode(), {"Stripe-Signature": good})[0] == 200
        assert _call(base, "POST", stripe_path, None, body.encode(), {"Stripe-Signature": good})[0] == 200
        assert _call(base, "POST", stripe_path, None, body.encode(), {"Stripe-Signature": forged})[0] == 400
        assert _call(base, "POST", svix_path, None, recurrente.encode(), svix)[0] == 200
        tampered = {**svix, "svix-signature": svix["svix-signature"][:-4] + "AAAA"}
        assert _call(base, "POST", svix_path, None, recurrente.encode(), tampered)[0] == 400
        metrics = scrape(metrics_port)
    finally:
        server.stop()
    deliveries = "billing_webhook_deliveries_total"
    assert metrics.total(deliveries, provider="stripe", outcome="accepted") == 1
    assert metrics.total(deliveries, provider="stripe", outcome="duplicate") == 1
    assert metrics.total(deliveries, provider="stripe", outcome="refused") == 1
    assert metrics.total(deliveries, provider="recurrente", outcome="accepted") == 1
    assert metrics.total(deliveries, provider="recurrente", outcome="refused") == 1
    lines = json_lines(server.log)
    stored = [e for e in lines if e.get("webhook_event_id") == "evt_invoice_paid"]
    assert [e["duplicate"] for e in stored] == [False, True]
    text = server.log.read_text()
    signatures = [good, forged, svix["svix-signature"], tampered["svix-signature"]]
    parts = [p.split("=", 1)[1] for s in (good, forged) for p in s.split(",") if p.startswith("v1=")]
    parts += [s.split(",", 1)[1] for s in signatures[2:]]
    for secret in (STRIPE_SECRET, RECURRENTE_SECRET, *signatures, *parts):
        assert secret not in text
