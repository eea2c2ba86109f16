"""The audit Actor of the current request: who (from the Principal), its request id and address;
and the console's sign-in audit (called by api/console/views.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import g
from sqlalchemy import Connection

from api.auth import Principal
from api.limits import client
from api.runtime import write
from billing_core import audit
from billing_core.access.admin_keys import ADMIN_KEY_PREFIX
from billing_core.access.api_keys import KEY_PREFIX
from billing_core.access.service_keys import SERVICE_KEY_PREFIX
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
    return Actor(kind, name, request_id() or None, client())


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
    """`write(work)` and its audit event by the request's actor, in the same transaction."""
    actor = current_actor()
    return write(
        audit.audited(actor, action, work, organization_id=organization_id, target=target, details=details)
    )


def _claimed(token: str) -> Actor:
    """Who a refused token claims to be: the kind and public prefix its shape shows, never more."""
    for prefix, kind in (
        (ADMIN_KEY_PREFIX, "admin_key"),
        (SERVICE_KEY_PREFIX, "service_key"),
        (KEY_PREFIX, "api_key"),
    ):
        if token.startswith(prefix) and len(token) > len(prefix) + 9:
            return Actor(kind, token[: len(prefix) + 8], request_id() or None, client())
    return Actor("system", "unknown-token", request_id() or None, client())


def record_console_sign_in(token: str, signed_in: Actor | None, organization_id: str | None) -> None:
    """Audit a console sign-in in its own small transaction: `signed_in` is the actor of an
    accepted token (its organization opened), None for a refused one (`console.sign_in_failed`)."""
    actor = signed_in if signed_in is not None else _claimed(token.strip())
    write(lambda c: audit.record_sign_in(c, actor, signed_in is not None, organization_id=organization_id))
