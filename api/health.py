"""Liveness (`/healthz`, no I/O) and readiness (`/readyz`: the database, and the broker if set)."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from apiflask import APIBlueprint

from api.auth import public
from api.errors import api_error
from api.runtime import runtime
from api.schemas_out import HealthOut, ReadyOut
from billing_core.queries.organizations import ping

bp = APIBlueprint("health", __name__, tag="Health")


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to the AMQP URL's host and port opens (5672, or 5671 for amqps)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        host = parts.hostname or "localhost"
    except ValueError:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def database_reachable() -> bool:
    try:
        with runtime().engine.connect() as connection:
            ping(connection)
        return True
    except Exception:  # any failure to reach or use the database means "not ready"
        return False


@bp.get("/healthz")
@public
@bp.output(HealthOut)
def healthz() -> Any:
    """The process is alive (touches nothing else)."""
    return {"status": "ok"}


@bp.get("/readyz")
@public
@bp.output(ReadyOut)
@bp.doc(responses={503: "The database or the broker cannot be reached"})
def readyz() -> Any:
    """The database answers `SELECT 1` and, when BROKER_URL is set, the broker accepts connections."""
    database = "ok" if database_reachable() else "unreachable"
    broker_url = runtime().settings.broker_url
    broker = "not configured" if not broker_url else ("ok" if broker_reachable(broker_url) else "unreachable")
    if "unreachable" in (database, broker):
        # Names what is down, never the URLs (they may hold passwords).
        raise api_error(503, "not_ready", f"database: {database}; broker: {broker}")
    return {"status": "ready", "database": database, "broker": broker}
