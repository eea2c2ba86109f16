"""One JSON error body for every error: `{"error": {"type": ..., "message": ..., "field"?: ...}}`.

Domain errors are mapped to HTTP statuses here (and only here); Flask's own errors (404, 405,
413, ...) and unexpected exceptions get the same shape, never an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import request

from billing_core.errors import (
    AdminKeyNameTaken,
    AlreadySubscribed,
    BillingError,
    BudgetExceeded,
    FreePlan,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    InvalidTransition,
    NothingToRefund,
    NotSupportedByProvider,
    PackNotOffered,
    PaymentProviderError,
    PlanLimitReached,
    PlanNotOffered,
    ProviderNotConfigured,
    UnknownAdminKey,
    UnknownApiKey,
    UnknownBudget,
    UnknownDelivery,
    UnknownEndpoint,
    UnknownHold,
    UnknownModel,
    UnknownOrganization,
    UnknownPack,
    UnknownPlan,
    UnknownSubscription,
    UnknownTool,
)
from billing_core.money import micros_to_text
from billing_core.spend.budgets import BudgetStatus

log = logging.getLogger("billing.api")

TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    502: "provider_error",
    503: "not_ready",
}


def api_error(
    status: int,
    type_: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> HTTPError:
    """An error to raise from a view; `extra` adds fields to the error object (e.g. balance)."""
    data: dict[str, Any] = {"type": type_, **extra}
    if field is not None:
        data["field"] = field
    error = HTTPError(None, message, headers=headers, extra_data=data)
    error.status_code = status  # set afterwards: HTTPError refuses codes Werkzeug lacks, such as 402
    return error


def _validation_field(detail: Any) -> tuple[str | None, str]:
    """The first offending field and its message from APIFlask's {location: {field: [msgs]}}."""
    if isinstance(detail, dict):
        for location, fields in detail.items():
            if isinstance(fields, dict):
                for name, messages in fields.items():
                    text = messages[0] if isinstance(messages, list) and messages else str(messages)
                    field = "body" if name == "_schema" else str(name)
                    return field, f"{field}: {text} (in {location})"
    return None, "the request is not valid"


def error_body(error: HTTPError) -> tuple[dict[str, Any], int, Any]:
    status = error.status_code
    extra = dict(error.extra_data)
    body: dict[str, Any] = {"type": extra.pop("type", TYPES.get(status, "http_error"))}
    if error.detail and status == 400 and "field" not in extra:
        body["type"] = "validation_error"
        body["field"], body["message"] = _validation_field(error.detail)
    else:
        body["message"] = error.message or TYPES.get(status, "error").replace("_", " ")
    body.update(extra)
    return {"error": body}, status, error.headers


NOT_FOUND = (
    UnknownOrganization,
    UnknownApiKey,
    UnknownAdminKey,
    NothingToRefund,
    UnknownEndpoint,
    UnknownDelivery,
    UnknownHold,
    UnknownBudget,
)


def budget_exceeded(status: BudgetStatus) -> HTTPError:
    """402 naming the hard budget that has no room: its scope, limit, spent, held and reset."""
    b = status.budget
    return api_error(
        402,
        "budget_exceeded",
        f"the {b.period} budget of {b.scope} {b.scope_id or b.organization_id!r} does not cover this",
        budget_id=str(b.id),
        scope=b.scope,
        scope_id=b.scope_id,
        period=b.period,
        limit=micros_to_text(b.limit_micros),
        spent=micros_to_text(status.spent),
        held=micros_to_text(status.held),
        resets_at=status.window.resets_at.isoformat() if status.window.resets_at else "never",
    )


def domain_error(error: BillingError) -> HTTPError:
    """The HTTP form of a domain error."""
    if isinstance(error, NOT_FOUND):
        return api_error(404, "not_found", str(error))
    if isinstance(error, BudgetExceeded) and isinstance(error.budget, BudgetStatus):
        return budget_exceeded(error.budget)
    if isinstance(error, InsufficientCredits):
        return api_error(
            402,
            "insufficient_credits",
            str(error),
            available=micros_to_text(error.available),
            required=micros_to_text(error.required),
        )
    if isinstance(error, IdempotencyConflict):
        return api_error(409, "idempotency_conflict", str(error), field="Idempotency-Key")
    if isinstance(error, PlanLimitReached):
        return api_error(403, "plan_limit_reached", str(error))
    if isinstance(error, UnknownModel):
        return api_error(400, "unknown_model", str(error), field="estimate.model")
    if isinstance(error, UnknownTool):
        return api_error(400, "unknown_tool", str(error), field="estimate.tools")
    if isinstance(error, UnknownSubscription):
        return api_error(404, "no_subscription", str(error))
    if isinstance(error, UnknownPlan):
        return api_error(400, "unknown_plan", str(error), field="plan")
    if isinstance(error, UnknownPack):
        return api_error(400, "unknown_pack", str(error), field="pack")
    if isinstance(error, PackNotOffered):
        return api_error(400, "pack_not_offered", str(error), field="pack")
    if isinstance(error, PlanNotOffered | FreePlan):
        return api_error(400, "plan_not_offered", str(error), field="plan")
    if isinstance(error, AdminKeyNameTaken):
        return api_error(409, "name_taken", str(error), field="name")
    if isinstance(error, AlreadySubscribed):
        return api_error(409, "already_subscribed", str(error))
    if isinstance(error, InvalidTransition):
        return api_error(409, "invalid_transition", str(error))
    if isinstance(error, NotSupportedByProvider):
        return api_error(409, "not_supported_by_provider", str(error))
    if isinstance(error, ProviderNotConfigured):
        return api_error(503, "provider_not_configured", str(error), field="provider")
    if isinstance(error, PaymentProviderError):
        return api_error(502, "provider_error", str(error))
    if isinstance(error, InvalidInput):
        message = str(error).split(": ", 1)[-1]
        return api_error(400, "validation_error", f"{error.field}: {message}", field=error.field)
    return api_error(400, "invalid_request", str(error))


def register_error_handlers(app: APIFlask) -> None:
    app.error_processor(error_body)

    @app.errorhandler(BillingError)
    def handle_domain_error(error: BillingError) -> Any:
        return error_body(domain_error(error))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPError):
            return error_body(error)
        # The log names the route and the exception; request bodies and headers (tokens) are not logged.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_body(api_error(500, "internal_error", "internal error; the request was not completed"))


# The OpenAPI schema of the error body (every non-2xx response of the API has this shape).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "machine-readable kind of error"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the offending input, when there is one"},
                "balance": {"type": "string", "description": "402 only: the balance, in credits"},
                "required": {"type": "string", "description": "402 only: what the message needs"},
            },
        }
    },
}
