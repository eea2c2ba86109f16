"""`billing bench webhooks`: signed Stripe deliveries against the receiver served by waitress,
then every stored event processed; prints throughput, latency percentiles and whether each event
had exactly one effect."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from bench.scratch import scratch_database
from billing_cli.api_commands import start_server
from billing_core.db.engine import normalize_url
from billing_core.ledger.accounts import create_organization
from billing_core.settings import Settings
from migrations import runner
from webhooks.app import create_app
from workers.scheduler import process_now

SECRET = "whsec_bench_" + "b" * 24


@dataclass(frozen=True)
class WebhookBenchConfig:
    deliveries: int
    concurrency: int
    database_url: str


def invoice_paid(n: int, period_start: int) -> bytes:
    """The first invoice of organization org-<n>'s new subscription: one subscription credit grant."""
    invoice = {
        "id": f"in_{n}",
        "object": "invoice",
        "customer": f"cus_{n}",
        "billing_reason": "subscription_create",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": f"sub_{n}",
                "metadata": {"organization_id": f"org-{n}", "plan": "pro", "interval": "month"},
            },
        },
        "lines": {"object": "list", "data": [{"period": {"start": period_start}}]},
    }
    event = {
        "id": f"evt_{n}",
        "object": "event",
        "type": "invoice.paid",
        "created": period_start,
        "data": {"object": invoice},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def run(config: WebhookBenchConfig) -> dict[str, object]:
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" notes under load
    with scratch_database(config.database_url) as url:
        engine = create_engine(normalize_url(url), pool_size=config.concurrency + 2)
        runner.upgrade(engine)
        with engine.begin() as c:
            for n in range(config.deliveries):
                create_organization(c, f"org-{n}")
        settings = Settings(database_url=url, stripe_webhook_secret=SecretStr(SECRET))
        server = start_server(
            create_app(settings, engine), host="127.0.0.1", port=0, threads=config.concurrency
        )
        start = int(datetime.now(UTC).timestamp())
        bodies = [invoice_paid(n, start) for n in range(config.deliveries)]
        local = threading.local()
        latencies: list[float] = []

        def deliver(body: bytes) -> int:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
            began = time.perf_counter()
            local.conn.request(
                "POST",
                "/webhooks/stripe",
                body=body,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            response = local.conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - began) * 1000)
            return int(response.status)

        began = time.perf_counter()
        with ThreadPoolExecutor(config.concurrency) as pool:
            statuses = list(pool.map(deliver, bodies))
        elapsed = time.perf_counter() - began
        server.stop()
        with engine.connect() as c:
            pending = [r for (r,) in c.execute(text("SELECT id FROM webhook_inbox ORDER BY id"))]
        processing_began = time.perf_counter()
        outcomes = [process_now(engine, row, datetime.now(UTC)) for row in pending]
        processing = time.perf_counter() - processing_began
        with engine.connect() as c:
            subscriptions = c.execute(text("SELECT count(*) FROM subscriptions")).scalar_one()
            grants = c.execute(text("SELECT count(*) FROM credit_grants")).scalar_one()
        engine.dispose()
    latencies.sort()
    n = config.deliveries
    return {
        "deliveries": n,
        "concurrency": config.concurrency,
        "requests_per_s": round(n / elapsed, 1),
        "p50_ms": round(latencies[n // 2], 2),
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))], 2),
        "all_2xx": all(200 <= s < 300 for s in statuses),
        "processing_events_per_s": round(len(pending) / processing, 1) if processing else 0.0,
        "processed_once": len(pending) == n == subscriptions == grants
        and all(o == "processed" for o in outcomes),
    }


def main(config: WebhookBenchConfig, as_json: bool) -> int:
    result = run(config)
    if not as_json:
        for key, value in result.items():
            print(f"{key:24} {value}")
    print(json.dumps(result))
    return 0 if result["processed_once"] and result["all_2xx"] else 1
