"""Service keys (admin only): create one (shown once), list them, revoke one."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.actors import audited_write
from api.auth import admin_required
from api.runtime import now, read
from api.schemas_ingest import NewServiceKeyOut, ServiceKeyIn, ServiceKeyOut, ServiceKeysOut
from billing_core.access import roles
from billing_core.access.service_keys import (
    ServiceKey,
    create_service_key,
    list_service_keys,
    revoke_service_key,
)
from billing_core.errors import UnknownApiKey

bp = APIBlueprint("service_keys", __name__, url_prefix="/v1", tag="Admin")


def present(key: ServiceKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "scopes": list(key.scopes),
        "organizations": None if key.organizations is None else list(key.organizations),
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    }


@bp.post("/service-keys")
@admin_required(roles.BILLING)
@bp.input(ServiceKeyIn, location="json", arg_name="body")
@bp.output(NewServiceKeyOut, status_code=201)
def create_service_key_view(body: ServiceKeyIn) -> Any:
    """Create a service key with scopes (`ingest`, `read`) for every organization or those named.
    The whole key is in this response only."""
    new = audited_write(
        "service_key.create",
        lambda c: create_service_key(c, body.name, body.scopes, now(), body.organizations),
        target=lambda n: ("service_key", n.key.id),
        details=lambda n: {
            "prefix": n.key.prefix,
            "scopes": n.key.scopes,
            "organizations": n.key.organizations,
        },
    )
    return {**present(new.key), "key": new.secret}, 201


@bp.get("/service-keys")
@admin_required(roles.READ)
@bp.output(ServiceKeysOut)
def list_service_keys_view() -> Any:
    """Every service key (prefixes only; a key's secret is never shown again)."""
    return {"data": [present(k) for k in read(list_service_keys)]}


@bp.delete("/service-keys/<int:key_id>")
@admin_required(roles.BILLING)
@bp.output(ServiceKeyOut)
def revoke_service_key_view(key_id: int) -> Any:
    """Revoke a service key; it stops working at once. Revoking it again changes nothing."""
    if key_id >= 2**63:
        raise UnknownApiKey(key_id)
    revoked = audited_write(
        "service_key.revoke",
        lambda c: revoke_service_key(c, key_id, now()),
        target=lambda k: ("service_key", k.id),
        details=lambda k: {"prefix": k.prefix},
    )
    return present(revoked)
