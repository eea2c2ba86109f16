"""One run against localstripe, a fake Stripe server that sends real signed webhooks: a subscription
created by Stripe's API (not this app's checkout), with only the organization in its metadata and
the plan catalog's price, is paid and grants that plan's credits once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import stripe
from pydantic import SecretStr
from sqlalchemy import text

from billing_cli.api_commands import start_server
from billing_core.plans.catalog import set_plan
from billing_core.settings import Settings
from tests.support.ledger import balance, committed, cr, create_org
from tests.support.pipeline import wait_until
from webhooks.app import create_app
from workers.scheduler import process_now

SECRET = "whsec_localstripe_test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_subscription_created_and_paid_at_localstripe_grants_the_plans_credits_once(database_url, engine):
    create_org(engine, "acme")
    now = datetime.now(UTC)
    port = _free_port()
    fake = subprocess.Popen(
        [str(Path(sys.executable).parent / "localstripe"), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = Settings(database_url=database_url, stripe_webhook_secret=SecretStr(SECRET))
    receiver = start_server(create_app(settings, engine), host="127.0.0.1", port=0)
    try:
        base = f"http://127.0.0.1:{port}"
        config = urllib.request.Request(
            f"{base}/_config/webhooks/billing",
            data=json.dumps(
                {"url": f"http://127.0.0.1:{receiver.port}/webhooks/stripe", "secret": SECRET}
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        wait_until(lambda: _answers(config), timeout=30, what="localstripe to start")
        client = stripe.StripeClient("sk_test_localstripe", base_addresses={"api": base})
        product = client.v1.products.create({"name": "Pro"})
        plan = client.v1.plans.create(
            {"product": product.id, "amount": 2000, "currency": "usd", "interval": "month"}
        )
        # The operator gives Pro its Stripe price: the subscription's plan comes from it.
        committed(
            engine,
            lambda c: set_plan(c, "pro", now, credits_per_month=cr(1000), stripe_price_monthly=plan.id),
        )
        card = {
            "object": "card",
            "number": "4242424242424242",
            "exp_month": 12,
            "exp_year": 2030,
            "cvc": "123",
        }
        customer = client.v1.customers.create({"email": "owner@acme.test", "source": card})
        client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"plan": plan.id}],
                "metadata": {"organization_id": "acme"},
            }
        )
        wait_until(
            lambda: {"customer.subscription.created", "invoice.payment_succeeded"} <= _types(engine),
            timeout=30,
            what="localstripe's webhooks",
        )
    finally:
        receiver.stop()
        fake.terminate()
        fake.wait(timeout=30)
    now = datetime.now(UTC)
    for _ in range(3):  # apply every delivery, twice over, in arrival order; waiting ones are retried
        for row in _rows(engine):
            process_now(engine, row, now)
    with engine.connect() as c:
        subscription = c.execute(text("SELECT status, plan_code, provider FROM subscriptions")).one()
        grants = c.execute(text("SELECT count(*) FROM credit_grants")).scalar_one()
    assert tuple(subscription) == ("active", "pro", "stripe")
    assert grants == 1
    assert balance(engine, "acme", now).balance == cr(1000)


def _answers(request: urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _types(engine) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return {t for (t,) in c.execute(text("SELECT event_type FROM webhook_inbox"))}


def _rows(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [r for (r,) in c.execute(text("SELECT id FROM webhook_inbox ORDER BY id"))]
