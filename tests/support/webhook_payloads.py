"""Provider events shaped like the real ones (Stripe API objects, Recurrente's documented bodies),
and signing them with the providers' own libraries."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import stripe
from svix.webhooks import Webhook

STRIPE_SECRET = "whsec_test_" + "s" * 24
RECURRENTE_SECRET = "whsec_" + base64.b64encode(b"recurrente-test-secret!!").decode()


def stripe_event(
    event_type: str, obj: dict[str, Any], *, event_id: str = "evt_1", created: int = 1767225600
) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def stripe_invoice_paid(*, event_id: str = "evt_invoice_paid", subscription: str = "sub_123") -> dict:
    invoice = {
        "id": "in_123",
        "object": "invoice",
        "customer": "cus_123",
        "status": "paid",
        "amount_paid": 2000,
        "currency": "usd",
        "billing_reason": "subscription_create",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription, "metadata": {"organization_id": "acme"}},
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": "il_1",
                    "object": "line_item",
                    "amount": 2000,
                    "period": {"start": 1767225600, "end": 1769904000},
                }
            ],
        },
    }
    return stripe_event("invoice.paid", invoice, event_id=event_id)


def sign_stripe(body: str, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)


def recurrente_payment_succeeded(*, intent: str = "pa_123") -> dict:
    return {
        "id": intent,
        "event_type": "payment_intent.succeeded",
        "api_version": "2024-04-24",
        "checkout": {
            "id": "ch_123",
            "status": "paid",
            "metadata": {"organization_id": "acme", "plan": "pro"},
        },
        "amount_in_cents": 2000,
        "currency": "USD",
        "fee": 100,
        "vat_withheld": 0,
        "vat_withheld_currency": "GTQ",
        "created_at": "2026-01-01T00:00:00Z",
        "customer": {"email": "owner@acme.test", "full_name": "Acme Owner", "id": "us_123"},
        "subscription": {"id": "su_123"},
    }


def sign_recurrente(
    body: str, msg_id: str, *, secret: str = RECURRENTE_SECRET, at: datetime | None = None
) -> dict:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body)
    return {"svix-id": msg_id, "svix-timestamp": str(int(at.timestamp())), "svix-signature": signature}


def dumps(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"))


def now() -> int:
    return int(time.time())
