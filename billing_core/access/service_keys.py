"""Service keys: keys of the platform's own services (an agent runtime reporting usage for many
organizations, a dashboard reading balances), created by an admin, not bound to one organization.

They follow the storage rules of organization API keys (api_keys.py): `bk_svc_<8 visible
characters>_<secret>`, shown once, only the SHA-256 hash of the whole key stored, revocable,
last_used_at written at most once a minute. A key holds scopes (`ingest`: report usage and
failures; `read`: the organization read endpoints) and, optionally, the organizations it may act
for. No scope reaches the admin endpoints.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from billing_core.access.api_keys import LAST_USED_RESOLUTION, hash_key
from billing_core.errors import InvalidInput, UnknownApiKey
from billing_core.queries.organizations import require_organization

SERVICE_KEY_PREFIX = "bk_svc_"
INGEST = "ingest"
READ = "read"
SCOPES = (INGEST, READ)
_ALPHABET = string.ascii_lowercase + string.digits
_COLUMNS = "id, prefix, name, scopes, organizations, created_at, revoked_at, last_used_at"


@dataclass(frozen=True)
class ServiceKey:
    id: int
    prefix: str
    name: str
    scopes: tuple[str, ...]
    organizations: tuple[str, ...] | None  # None: every organization
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of_row(cls, row: Row[Any]) -> ServiceKey:
        organizations = None if row.organizations is None else tuple(row.organizations)
        return cls(
            row.id,
            row.prefix,
            row.name,
            tuple(row.scopes),
            organizations,
            row.created_at,
            row.revoked_at,
            row.last_used_at,
        )


@dataclass(frozen=True)
class NewServiceKey:
    key: ServiceKey
    secret: str  # the whole key; it exists only in this object and in the creation answer


@dataclass(frozen=True)
class ServiceIdentity:
    """What a valid, unrevoked service key may do."""

    key_id: int
    scopes: frozenset[str]
    organizations: frozenset[str] | None  # None: every organization
    needs_touch: bool = False  # last_used_at is older than LAST_USED_RESOLUTION

    def may_act_for(self, organization_id: str) -> bool:
        return self.organizations is None or organization_id in self.organizations


def is_service_key(secret: str) -> bool:
    return secret.startswith(SERVICE_KEY_PREFIX)


def create_service_key(
    connection: Connection,
    name: str,
    scopes: Iterable[str],
    now: datetime,
    organizations: Iterable[str] | None = None,
) -> NewServiceKey:
    """A new key with these scopes (at least one of SCOPES), for every organization or those named
    (each must exist)."""
    if len(name) > 200:
        raise InvalidInput("name", "at most 200 characters")
    chosen = sorted(set(scopes))
    if not chosen or any(scope not in SCOPES for scope in chosen):
        raise InvalidInput("scopes", f"one or more of {', '.join(SCOPES)} are required")
    allowed = None if organizations is None else sorted(set(organizations))
    if allowed is not None:
        if not allowed:
            raise InvalidInput("organizations", "name at least one organization, or leave it out for all")
        for organization_id in allowed:
            require_organization(connection, organization_id)
    prefix = SERVICE_KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = connection.execute(
        text(
            "INSERT INTO service_keys (prefix, key_hash, name, scopes, organizations, created_at) "  # noqa: S608
            f"VALUES (:prefix, :hash, :name, :scopes, :orgs, :now) RETURNING {_COLUMNS}"
        ),
        {
            "prefix": prefix,
            "hash": hash_key(secret),
            "name": name,
            "scopes": chosen,
            "orgs": allowed,
            "now": now,
        },
    ).one()
    return NewServiceKey(ServiceKey.of_row(row), secret)


def list_service_keys(connection: Connection) -> list[ServiceKey]:
    rows = connection.execute(text(f"SELECT {_COLUMNS} FROM service_keys ORDER BY id"))  # noqa: S608
    return [ServiceKey.of_row(row) for row in rows]


def revoke_service_key(connection: Connection, key_id: int, now: datetime) -> ServiceKey:
    """Revoke a key; it stops working at once. Revoking it again changes nothing."""
    row = connection.execute(
        text(
            "UPDATE service_keys SET revoked_at = COALESCE(revoked_at, :now) "  # noqa: S608
            f"WHERE id = :id RETURNING {_COLUMNS}"
        ),
        {"id": key_id, "now": now},
    ).first()
    if row is None:
        raise UnknownApiKey(key_id)
    return ServiceKey.of_row(row)


def authenticate_service_key(connection: Connection, secret: str, now: datetime) -> ServiceIdentity | None:
    """The identity behind a presented service key, or None if it is unknown or revoked (one read)."""
    if not is_service_key(secret) or len(secret) > 200:
        return None
    row = connection.execute(
        text(
            "SELECT id, scopes, organizations, revoked_at, last_used_at FROM service_keys "
            "WHERE key_hash = :hash"
        ),
        {"hash": hash_key(secret)},
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
    organizations = None if row.organizations is None else frozenset(row.organizations)
    return ServiceIdentity(row.id, frozenset(row.scopes), organizations, needs_touch=stale)


def record_service_key_use(connection: Connection, key_id: int, now: datetime) -> None:
    """Set last_used_at (at most about once a minute per key, in its own small write)."""
    connection.execute(
        text(
            "UPDATE service_keys SET last_used_at = :now WHERE id = :id "
            "AND (last_used_at IS NULL OR last_used_at < :now)"
        ),
        {"now": now, "id": key_id},
    )
