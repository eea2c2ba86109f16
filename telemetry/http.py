"""Request metrics, the request id and the access log of the Flask apps (the API, the webhook
receiver), served by waitress.

Each request gets an id: the caller's `X-Request-ID` when it is a plain token (letters, digits,
`.`, `_`, `-`, `:`, at most 128), otherwise a new one. It is echoed in the response's
`X-Request-ID` and set for every log line written while the request is served. Waitress writes
no access log of its own: one line per request goes to the `billing.access` logger here (method,
route template, status, duration; never the query string, a header or a body).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Histogram

from telemetry.logs import REQUEST_ID

HEADER = "X-Request-ID"
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a path no route matches (never the path itself)
access_log = logging.getLogger("billing.access")


class HttpMetrics:
    """One histogram for every app of a process (`app` tells them apart in `billing up`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Histogram(
            "billing_http_request_duration_seconds",
            "HTTP requests by app, route template, method and status, and how long they took.",
            ["app", "route", "method", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )


def request_id() -> str:
    """The id of the request being served."""
    return str(g.get("request_id", ""))


def instrument(app: Flask, app_name: str, metrics: HttpMetrics) -> None:
    """Register first, so that every other hook (and every error response) runs inside it."""

    @app.before_request
    def _begin() -> None:
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if _PLAIN.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        g.request_id_token = REQUEST_ID.set(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        method = request.method if request.method in _METHODS else "other"
        metrics.requests.labels(app_name, route, method, str(response.status_code)).observe(seconds)
        response.headers[HEADER] = request_id()
        access_log.info(
            "%s %s %d",
            method,
            route,
            response.status_code,
            extra={"route": route, "status": response.status_code, "duration_ms": round(seconds * 1000, 2)},
        )
        return response

    @app.teardown_request
    def _end(error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            REQUEST_ID.reset(token)
