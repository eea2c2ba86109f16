"""The audit Actor of the current request: who (from the Principal), its request id and address."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import Connection

from api.auth import Principal
from api.runtime import write
from billing_core import audit
from billing_core.audit import Actor
from telemetry.http import request_id

T = TypeVar("T")


def actor_of(principal: Principal) -> Actor:
    """The admin key's name, `admin-token`, the API key's prefix, or `service-key-<id>`."""
    if principal.admin_identity is not None:
        kind = "admin_key" if principal.admin_identity.key_id is not None else "admin_token"
        name = principal.admin_identity.name
    elif principal.service is not None:
        kind, name = "service_key", f"service-key-{principal.service.key_id}"
    else:
        kind, name = "api_key", principal.key_prefix or ""
    return Actor(kind, name, request_id() or None, request.remote_addr)


def current_actor() -> Actor:
    """The actor of the request authenticated by an access decorator (api/auth.py)."""
    principal = g.get("principal")
    if not isinstance(principal, Principal):
        raise RuntimeError("no authenticated caller: the view declares no access rule")
    return actor_of(principal)


def audited_write(
    action: str,
    work: Callable[[Connection], T],
    *,
    organization_id: str | None = None,
    target: Callable[[T], tuple[str, object]] | None = None,
    details: Callable[[T], Mapping[str, Any]] | None = None,
) -> T:
    """`write(work)` and its audit event by the request's actor, in the same transaction: an
    action that fails or rolls back leaves no event."""
    actor = current_actor()

    def run(connection: Connection) -> T:
        result = work(connection)
        audit.record(
            connection,
            actor,
            action,
            organization_id=organization_id,
            target=target(result) if target is not None else None,
            details=details(result) if details is not None else None,
        )
        return result

    return write(run)
