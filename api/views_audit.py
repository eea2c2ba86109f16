"""Admin keys (owners manage them) and the audit log (owners and support read it)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from apiflask import APIBlueprint
from sqlalchemy import Connection

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.actors import current_actor
from api.auth import admin_required
from api.cursor import decode_cursor, encode_cursor
from api.runtime import now, read, write
from api.schemas_audit import AdminKeyIn, AdminKeyOut, AdminKeysOut, AuditPageOut, AuditQuery, NewAdminKeyOut
from billing_core import audit
from billing_core.access import roles
from billing_core.access.admin_keys import (
    AdminKey,
    NewAdminKey,
    create_admin_key,
    list_admin_keys,
    revoke_admin_key,
)
from billing_core.queries.audit_events import audit_page

bp = APIBlueprint("audit", __name__, url_prefix="/v1", tag="Admin")


def _key(key: AdminKey) -> dict[str, Any]:
    return asdict(key)


@bp.post("/admin-keys")
@admin_required(roles.OWNER)
@bp.input(AdminKeyIn, location="json", arg_name="body")
@bp.output(NewAdminKeyOut, status_code=201)
@bp.doc(responses={409: "An active admin key already has this name"})
def create_admin_key_view(body: AdminKeyIn) -> Any:
    """Create an admin key with a role. The whole key is in this response only."""
    actor = current_actor()

    def work(connection: Connection) -> NewAdminKey:
        new = create_admin_key(connection, body.name, body.role, actor.name, now())
        audit.record(
            connection,
            actor,
            "admin_key.create",
            target=("admin_key", new.key.id),
            details={"name": new.key.name, "role": new.key.role, "prefix": new.key.prefix},
        )
        return new

    new = write(work)
    return {**_key(new.key), "key": new.secret}, 201


@bp.get("/admin-keys")
@admin_required(roles.OWNER)
@bp.output(AdminKeysOut)
def list_admin_keys_view() -> Any:
    """Every admin key (prefixes only; a key's secret is never shown again)."""
    return {"data": [_key(k) for k in read(list_admin_keys)]}


@bp.delete("/admin-keys/<int:key_id>")
@admin_required(roles.OWNER)
@bp.output(AdminKeyOut)
def revoke_admin_key_view(key_id: int) -> Any:
    """Revoke an admin key; it stops working at once. Revoking it again changes nothing."""
    actor = current_actor()

    def work(connection: Connection) -> AdminKey:
        key = revoke_admin_key(connection, key_id, now())
        audit.record(
            connection, actor, "admin_key.revoke", target=("admin_key", key.id), details={"name": key.name}
        )
        return key

    return _key(write(work))


@bp.get("/audit-events")
@admin_required(roles.AUDIT)
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPageOut)
def list_audit_events_view(query: AuditQuery) -> Any:
    """The audit log, newest first; pass `next_cursor` back as `cursor` for the next page."""
    before = decode_cursor(query.cursor) if query.cursor is not None else None
    page = read(
        lambda c: audit_page(
            c,
            limit=query.limit,
            before_id=before,
            actor=query.actor,
            action=query.action,
            organization=query.organization,
            since=query.since,
            until=query.until,
        )
    )
    cursor = encode_cursor(page.next_before_id) if page.next_before_id is not None else None
    return {"data": [asdict(e) for e in page.events], "next_cursor": cursor, "has_more": cursor is not None}
