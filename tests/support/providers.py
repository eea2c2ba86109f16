"""Stand-ins for the payment providers.

`FakeProviders` is a small local HTTP server standing in for Stripe and Recurrente, for the real
adapters: it answers with objects shaped like theirs and records every request (method, path,
headers, form or JSON body). Its PaymentIntents keep Stripe's idempotency (the same key answers
the same intent: `payment_intents` holds each intent created once) and decline while `decline` is
set. `RecordingProvider` stands in for an adapter itself, injected into the app: it records what
the payment port is asked."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from billing_core.errors import PaymentProviderError
from billing_core.plans.catalog import PlanConfig
from billing_core.subscriptions.payment_port import (
    ChargeResult,
    CheckoutLink,
    PackCheckout,
    SavedMethodCharge,
    UpgradeCharge,
    UpgradeTarget,
)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)  # Stripe: form-encoded, flattened keys
    json: Any = None  # Recurrente: JSON

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def _subscription(subscription_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": "cus_1",
        "status": "active",
        "cancel_at_period_end": False,
        "items": {
            "object": "list",
            "data": [{"id": "si_1", "object": "subscription_item", "price": {"id": "price_pro_m"}}],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": "in_1",
        **changes,
    }


def _payment_intent(number: int, form: dict[str, str], status: str) -> dict[str, Any]:
    return {
        "id": f"pi_fake_{number}",
        "object": "payment_intent",
        "amount": int(form.get("amount", "0")),
        "currency": form.get("currency"),
        "customer": form.get("customer"),
        "payment_method": form.get("payment_method"),
        "status": status,
        "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
    }


def stripe_answer(method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
    if method == "GET" and path.startswith("/v1/customers/") and path.endswith("/payment_methods"):
        return 200, {"object": "list", "data": [{"id": "pm_listed", "object": "payment_method"}]}
    if method == "GET" and path.startswith("/v1/customers/"):
        customer = path.rsplit("/", 1)[1]
        return 200, {
            "id": customer,
            "object": "customer",
            "invoice_settings": {"default_payment_method": None},
        }
    if method == "POST" and path == "/v1/billing_portal/sessions":
        return 200, {
            "id": "bps_1",
            "object": "billing_portal.session",
            "customer": form.get("customer"),
            "url": "https://billing.stripe.test/p/session/bps_1",
        }
    if path.startswith("/v1/subscriptions/"):
        subscription_id = path.rsplit("/", 1)[1]
        if method == "GET":
            return 200, _subscription(subscription_id)
        if method == "POST":
            cancel = form.get("cancel_at_period_end") == "true"
            return 200, _subscription(subscription_id, cancel_at_period_end=cancel, latest_invoice="in_2")
    return 404, {"error": {"type": "invalid_request_error", "message": f"no route {method} {path}"}}


def recurrente_answer(method: str, path: str) -> tuple[int, Any]:
    if method == "POST" and path == "/api/checkouts":
        return 201, {"id": "ch_1", "checkout_url": "https://app.recurrente.test/checkout/ch_1"}
    if method == "DELETE" and path.startswith("/api/subscriptions/"):
        return 200, {"id": path.rsplit("/", 1)[1], "status": "cancelled"}
    return 404, {"error": f"no route {method} {path}"}


class FakeProviders:
    """Requests to /v1/... are Stripe's, to /api/... Recurrente's. `fail_with` makes every answer
    that status (with a provider-shaped error body)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.fail_with: int | None = None
        self.decline = False  # PaymentIntents are declined (402 card_error) while set
        self.payment_intents: dict[str, tuple[int, Any]] = {}  # idempotency key -> the answer, once
        self._sessions: dict[str, int] = {}  # idempotency key -> checkout session number
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing left open

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                url = urllib.parse.urlsplit(self.path)
                record = Recorded(self.command, url.path, dict(self.headers.items()))
                if raw and (self.headers.get("Content-Type") or "").startswith("application/json"):
                    record.json = json.loads(raw)
                elif raw or url.query:
                    record.form = dict(urllib.parse.parse_qsl(raw or url.query, keep_blank_values=True))
                with fake._lock:
                    fake.requests.append(record)
                if fake.fail_with is not None:
                    status, body = fake.fail_with, {"error": {"type": "card_error", "message": "declined"}}
                elif self.command == "POST" and url.path == "/v1/payment_intents":
                    status, body = fake.payment_intent(record)
                elif self.command == "POST" and url.path == "/v1/checkout/sessions":
                    status, body = 200, fake.checkout_session(record)
                elif url.path.startswith("/v1/"):
                    status, body = stripe_answer(self.command, url.path, record.form)
                else:
                    status, body = recurrente_answer(self.command, url.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_fake")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def checkout_session(self, record: Recorded) -> dict[str, Any]:
        """cs_test_1 for the first idempotency key, cs_test_2 for the next one, ..."""
        key = record.header("Idempotency-Key") or ""
        with self._lock:
            number = self._sessions.setdefault(key, len(self._sessions) + 1)
        return {
            "id": f"cs_test_{number}",
            "object": "checkout.session",
            "mode": record.form.get("mode"),
            "url": f"https://checkout.stripe.test/c/pay/cs_test_{number}",
        }

    def payment_intent(self, record: Recorded) -> tuple[int, Any]:
        """As Stripe: the same idempotency key gets the first answer again, whatever it was."""
        key = record.header("Idempotency-Key") or ""
        with self._lock:
            if key not in self.payment_intents:
                number = len(self.payment_intents) + 1
                if self.decline:
                    intent = _payment_intent(number, record.form, "requires_payment_method")
                    error = {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.",
                        "payment_intent": intent,
                    }
                    self.payment_intents[key] = (402, {"error": error})
                else:
                    self.payment_intents[key] = (200, _payment_intent(number, record.form, "succeeded"))
            return self.payment_intents[key]

    def charged(self) -> list[dict[str, Any]]:
        """The PaymentIntents that succeeded, once each."""
        return [body for status, body in self.payment_intents.values() if status == 200]

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fake_providers() -> Iterator[FakeProviders]:
    server = FakeProviders()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RecordingProvider:
    """Stands in for Stripe behind the payment port: records each call as a tuple, the call's kind
    first (checkout: organization, plan, interval, success and cancel URLs, idempotency key; upgrade:
    provider subscription, plan, amount in cents, idempotency key, success URL), and answers with
    fixed links. With `refuse` set it raises as a declining provider (after recording the call); with
    `upgrade_checkout_url` set an upgrade must be paid on that page."""

    name = "stripe"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = False
        self.upgrade_checkout_url: str | None = None

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if self.refuse:
            raise PaymentProviderError("stripe", "Your card was declined.")

    def create_checkout(
        self, organization_id: str, plan: PlanConfig, interval: str, success: str, cancel: str, key: str
    ) -> CheckoutLink:
        self._record("checkout", organization_id, plan.code, interval, success, cancel, key)
        return CheckoutLink("https://pay.test/c/1", "cs_1")

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        self._record("portal", customer_id, return_url)
        return "https://portal.test/s/1"

    def charge_upgrade(self, target: UpgradeTarget, amount_cents: int, key: str) -> UpgradeCharge:
        self._record(
            "upgrade",
            target.provider_subscription_id,
            target.plan.code,
            amount_cents,
            key,
            target.success_url,
        )
        return UpgradeCharge("in_9", self.upgrade_checkout_url)

    def schedule_plan_change(self, target: UpgradeTarget, key: str) -> None:
        self._record("schedule", target.provider_subscription_id, target.plan.code, target.interval)

    def cancel_at_period_end(self, provider_subscription_id: str, key: str) -> None:
        self._record("cancel", provider_subscription_id)

    def resume(self, provider_subscription_id: str, key: str) -> None:
        self._record("resume", provider_subscription_id)

    def create_pack_checkout(self, order: PackCheckout, key: str) -> CheckoutLink:
        self._record("pack_checkout", order.organization_id, order.pack.code, order.purchase_id, key)
        return CheckoutLink(f"https://pay.test/p/{order.purchase_id}", f"cs_pack_{order.purchase_id}")

    def charge_saved_method(self, charge: SavedMethodCharge) -> ChargeResult:
        self._record("recharge", charge.organization_id, charge.amount_cents, charge.idempotency_key)
        return ChargeResult("succeeded", f"pi_{charge.purchase_id}")
