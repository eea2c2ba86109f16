"""The public receiver of payment-provider webhooks: verify, record, enqueue, answer.

Verification runs on the raw body. A verified delivery is written to the inbox (unique per
provider and external id) and committed; only a new row is enqueued, after the commit. The
request never calls the provider. A missing or empty secret disables that provider's endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from billing_core.db.engine import make_engine
from billing_core.db.uow import committed
from billing_core.faults import fault_point
from billing_core.json_depth import MAX_DEPTH, too_deep
from billing_core.provider_events.inbox import record_delivery
from billing_core.settings import Settings, load_settings
from telemetry.http import instrument
from webhooks.metrics import WebhookMetrics
from webhooks.verify import Refused, verify_recurrente, verify_stripe

MAX_BODY_BYTES = 1024 * 1024
log = logging.getLogger("billing.webhooks")
Enqueue = Callable[[int], object]


def _error(status: int, type_: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"type": type_, "message": message}}), status


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    enqueue: Enqueue | None = None,
    metrics: WebhookMetrics | None = None,
) -> Flask:
    """`enqueue(inbox_id)` hands a new inbox row to the webhooks queue (None: rows wait for the
    sweeper). `metrics`: where the receiver counts (default: a registry of its own)."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings)
    metrics = metrics or WebhookMetrics()
    app = Flask("billing-webhooks")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["billing_metrics"] = metrics
    instrument(app, "webhooks", metrics.http)

    def secret(value: Any) -> str | None:
        text = value.get_secret_value() if value is not None else ""
        return text or None

    def accept(
        provider: str, external_id: str, event_type: str, payload: dict[str, Any]
    ) -> tuple[Response, int]:
        row_id = committed(
            engine,
            lambda c: record_delivery(c, provider, external_id, event_type, payload, datetime.now(UTC)),
        )
        fault_point("webhook:after_commit_before_enqueue")
        if row_id is not None and enqueue is not None:
            enqueue(row_id)  # after the commit; a crash here is finished by the inbox sweeper
        metrics.deliveries.labels(provider, "accepted" if row_id is not None else "duplicate").inc()
        log.info(
            "%s webhook %s stored",
            provider,
            event_type,
            extra={"webhook_event_id": external_id, "provider": provider, "duplicate": row_id is None},
        )
        return jsonify({"received": True, "duplicate": row_id is None}), 200

    def refuse(provider: str, refusal: Refused) -> tuple[Response, int]:
        metrics.deliveries.labels(provider, "refused").inc()
        log.warning("refused %s webhook from %s: %s", provider, request.remote_addr, refusal.reason)
        return _error(refusal.status, "refused", refusal.reason)

    def disabled(provider: str, name: str) -> tuple[Response, int]:
        metrics.deliveries.labels(provider, "disabled").inc()
        return _error(404, "disabled", f"{name} webhooks are not configured")

    @app.before_request
    def _refuse_deep_json() -> tuple[Response, int] | None:
        # Before the signature check and any parser: deep nesting would exhaust the recursion limit.
        if request.method == "POST" and too_deep(request.get_data(cache=True)):
            return _error(400, "refused", f"JSON nested deeper than {MAX_DEPTH} levels")
        return None

    @app.post("/webhooks/stripe")
    def stripe_webhook() -> tuple[Response, int]:
        key = secret(settings.stripe_webhook_secret)
        if key is None:
            return disabled("stripe", "Stripe")
        try:
            event = verify_stripe(request.get_data(), request.headers.get("Stripe-Signature"), key)
        except Refused as refusal:
            return refuse("stripe", refusal)
        return accept("stripe", event["id"], event["type"], event)

    @app.post("/webhooks/recurrente")
    def recurrente_webhook() -> tuple[Response, int]:
        key = secret(settings.recurrente_webhook_secret)
        if key is None:
            return disabled("recurrente", "Recurrente")
        headers = {
            name: request.headers.get(name, "") for name in ("svix-id", "svix-timestamp", "svix-signature")
        }
        try:
            event = verify_recurrente(request.get_data(), headers, key)
        except Refused as refusal:
            return refuse("recurrente", refusal)
        return accept("recurrente", headers["svix-id"], event["event_type"], event)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify({"status": "ok"}), 200

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        if error.code == 413:
            log.warning("refused webhook from %s: body over %d bytes", request.remote_addr, MAX_BODY_BYTES)
        return _error(
            error.code or 500, (error.name or "error").lower().replace(" ", "_"), error.description or ""
        )

    return app
