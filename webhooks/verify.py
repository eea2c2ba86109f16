"""Signature checks on the raw body, with the providers' own libraries."""

from __future__ import annotations

import json
import time
from typing import Any

import stripe
from svix.webhooks import Webhook, WebhookVerificationError

TOLERANCE_S = 300


class Refused(Exception):
    """Raised when a delivery is not authentic or not acceptable; `reason` is safe to log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify_stripe(body: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Stripe-Signature: `t=<ts>,v1=<hmac>[,v1=...]`; several v1 values allow secret rotation."""
    if not signature:
        raise Refused(400, "missing Stripe-Signature header")
    timestamp = _stripe_timestamp(signature)
    if timestamp > time.time() + TOLERANCE_S:
        raise Refused(400, "timestamp too far in the future")
    try:
        # The library's own check (HMAC-SHA256 of "t.body", constant-time compare, tolerance);
        # the body is then parsed as plain JSON rather than into StripeObjects.
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), signature, secret, tolerance=TOLERANCE_S)
        payload = json.loads(body)
    except stripe.SignatureVerificationError as error:
        raise Refused(400, f"invalid signature: {_first_line(error)}") from None
    except ValueError:  # also UnicodeDecodeError
        raise Refused(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "event is not a JSON object")
    if not isinstance(payload.get("id"), str) or not isinstance(payload.get("type"), str):
        raise Refused(400, "event without id or type")
    return payload


def verify_recurrente(body: bytes, headers: dict[str, str], secret: str) -> dict[str, Any]:
    """Svix headers: svix-id, svix-timestamp, svix-signature (±5 minutes)."""
    missing = [h for h in ("svix-id", "svix-timestamp", "svix-signature") if not headers.get(h)]
    if missing:
        raise Refused(400, f"missing header(s): {', '.join(missing)}")
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError as error:
        raise Refused(400, f"invalid signature: {_first_line(error)}") from None
    try:
        payload = json.loads(body)
    except ValueError:
        raise Refused(400, "body is not valid JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("event_type"), str):
        raise Refused(400, "event without event_type")
    return payload


def _stripe_timestamp(signature: str) -> int:
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    raise Refused(400, "Stripe-Signature without a timestamp")


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
