"""Organization API keys: created by an admin, shown once, stored as a SHA-256 hash, revocable.

A key reads `bk_live_<8 visible characters>_<secret>`; the part before the last underscore is
its prefix, kept in clear so that people can tell keys apart. Only the hash of the whole key is
stored, so a leaked database does not leak usable keys.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, UnknownApiKey
from billing_core.plans.plans import FREE_PLAN
from billing_core.queries.organizations import require_organization
from billing_core.subscriptions.state import IN_FORCE_SQL

KEY_PREFIX = "bk_live_"
_ALPHABET = string.ascii_lowercase + string.digits
# last_used_at is refreshed at most this often, so that reads do not turn into writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class ApiKey:
    id: int
    organization_id: str
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # the whole key; it exists only in this object and in the creation response


@dataclass(frozen=True)
class KeyIdentity:
    """Who a valid, unrevoked key speaks for, and the API access level of its plan."""

    key_id: int
    organization_id: str
    api_access: str
    needs_touch: bool = False  # last_used_at is older than LAST_USED_RESOLUTION


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new (prefix, whole key)."""
    prefix = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def key_prefix(secret: str) -> str:
    """The public part of a whole key (what `api_key` budgets and events name)."""
    return secret[: len(KEY_PREFIX) + 8]


_KEY_COLUMNS = "id, organization_id, prefix, name, created_at, revoked_at, last_used_at"


def create_api_key(connection: Connection, organization_id: str, name: str, now: datetime) -> NewApiKey:
    if len(name) > 200:
        raise InvalidInput("name", "at most 200 characters")
    require_organization(connection, organization_id)
    prefix, secret = generate_key()
    row = connection.execute(
        text(
            "INSERT INTO api_keys (organization_id, prefix, key_hash, name, created_at) "  # noqa: S608
            f"VALUES (:org, :prefix, :hash, :name, :now) RETURNING {_KEY_COLUMNS}"
        ),
        {"org": organization_id, "prefix": prefix, "hash": hash_key(secret), "name": name, "now": now},
    ).one()
    return NewApiKey(ApiKey(*row), secret)


def list_api_keys(connection: Connection, organization_id: str) -> list[ApiKey]:
    rows = connection.execute(
        text(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE organization_id = :org ORDER BY id"),  # noqa: S608
        {"org": organization_id},
    )
    return [ApiKey(*row) for row in rows]


def revoke_api_key(connection: Connection, organization_id: str, key_id: int, now: datetime) -> ApiKey:
    """Revoke a key of this organization; revoking it again changes nothing."""
    row = connection.execute(
        text(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, :now) "  # noqa: S608
            f"WHERE id = :id AND organization_id = :org RETURNING {_KEY_COLUMNS}"
        ),
        {"id": key_id, "org": organization_id, "now": now},
    ).first()
    if row is None:
        raise UnknownApiKey(key_id)
    return ApiKey(*row)


def authenticate_key(connection: Connection, secret: str, now: datetime) -> KeyIdentity | None:
    """The identity behind a presented key, or None if it is unknown or revoked. One read: the
    caller records the use (`record_key_use`) only when `needs_touch` says last_used_at is stale."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = connection.execute(
        text(
            "SELECT k.id, k.organization_id, k.revoked_at, k.last_used_at, p.api_access FROM api_keys k "  # noqa: S608
            "LEFT JOIN LATERAL (SELECT s.plan_code FROM subscriptions s "
            f"WHERE s.organization_id = k.organization_id AND s.status IN {IN_FORCE_SQL} "
            "ORDER BY s.current_period_end DESC NULLS LAST, s.id DESC LIMIT 1) live ON true "
            "JOIN plans p ON p.code = COALESCE(live.plan_code, :free) "
            "WHERE k.key_hash = :hash"
        ),
        {"hash": hash_key(secret), "free": FREE_PLAN},
    ).first()
    if row is None:
        return None
    key_id, organization_id, revoked_at, last_used_at, api_access = row
    if revoked_at is not None:
        return None
    stale = last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION
    return KeyIdentity(key_id, organization_id, api_access, needs_touch=stale)


def record_key_use(connection: Connection, key_id: int, now: datetime) -> None:
    """Set last_used_at (called at most about once a minute per key, in its own small write)."""
    connection.execute(
        text(
            "UPDATE api_keys SET last_used_at = :now WHERE id = :id "
            "AND (last_used_at IS NULL OR last_used_at < :now)"
        ),
        {"now": now, "id": key_id},
    )
