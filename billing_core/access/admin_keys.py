"""Admin keys: named admin credentials with a role, created by an owner, shown once.

They follow the storage rules of organization API keys (api_keys.py): `bk_adm_<8 visible
characters>_<secret>`, only the SHA-256 hash of the whole key stored, the prefix kept in clear,
revocable, last_used_at written at most once a minute. A name is unique among the keys that are
not revoked, so a name in the audit log names one person's key at a time.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from billing_core.access.api_keys import LAST_USED_RESOLUTION, hash_key
from billing_core.access.roles import check_role
from billing_core.errors import AdminKeyNameTaken, InvalidInput, UnknownAdminKey

ADMIN_KEY_PREFIX = "bk_adm_"
_ALPHABET = string.ascii_lowercase + string.digits
_COLUMNS = "id, name, role, prefix, created_at, created_by, revoked_at, last_used_at"
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._@-")


@dataclass(frozen=True)
class AdminKey:
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewAdminKey:
    key: AdminKey
    secret: str  # the whole key; it exists only in this object and in the creation answer


@dataclass(frozen=True)
class AdminIdentity:
    key_id: int
    name: str
    role: str
    needs_touch: bool = False  # last_used_at is older than LAST_USED_RESOLUTION


def is_admin_key(secret: str) -> bool:
    return secret.startswith(ADMIN_KEY_PREFIX)


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 100 or not set(name) <= _NAME_CHARACTERS:
        raise InvalidInput("name", "1-100 letters, digits, '.', '_', '@' or '-'")
    return name


def create_admin_key(
    connection: Connection, name: str, role: str, created_by: str, now: datetime
) -> NewAdminKey:
    check_name(name)
    check_role(role)
    prefix = ADMIN_KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    params = {"name": name, "role": role, "prefix": prefix, "hash": hash_key(secret)}
    try:
        with connection.begin_nested():  # a taken name must not abort the caller's transaction
            row = connection.execute(
                text(
                    "INSERT INTO admin_keys (name, role, prefix, key_hash, created_at, created_by) "  # noqa: S608
                    f"VALUES (:name, :role, :prefix, :hash, :now, :by) RETURNING {_COLUMNS}"
                ),
                {**params, "now": now, "by": created_by},
            ).one()
    except IntegrityError:
        raise AdminKeyNameTaken(name) from None
    return NewAdminKey(AdminKey(*row), secret)


def list_admin_keys(connection: Connection) -> list[AdminKey]:
    rows = connection.execute(text(f"SELECT {_COLUMNS} FROM admin_keys ORDER BY id"))  # noqa: S608
    return [AdminKey(*row) for row in rows]


def revoke_admin_key(connection: Connection, key: int | str, now: datetime) -> AdminKey:
    """Revoke a key by id, or by the name of its active key; revoking it again changes nothing."""
    if isinstance(key, int) and not 0 < key < 2**63:
        raise UnknownAdminKey(key)
    where = "id = :key" if isinstance(key, int) else "name = :key AND revoked_at IS NULL"
    row = connection.execute(
        text(
            "UPDATE admin_keys SET revoked_at = COALESCE(revoked_at, :now) "  # noqa: S608
            f"WHERE {where} RETURNING {_COLUMNS}"
        ),
        {"key": key, "now": now},
    ).first()
    if row is None:
        raise UnknownAdminKey(key)
    return AdminKey(*row)


def authenticate_admin_key(connection: Connection, secret: str, now: datetime) -> AdminIdentity | None:
    """Who a presented admin key is, or None if it is unknown or revoked (one read; the caller
    records the use with `record_admin_key_use` only when `needs_touch`)."""
    if not is_admin_key(secret) or len(secret) > 200:
        return None
    row = connection.execute(
        text("SELECT id, name, role, revoked_at, last_used_at FROM admin_keys WHERE key_hash = :hash"),
        {"hash": hash_key(secret)},
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
    return AdminIdentity(row.id, row.name, row.role, needs_touch=stale)


def record_admin_key_use(connection: Connection, key_id: int, now: datetime) -> None:
    connection.execute(
        text(
            "UPDATE admin_keys SET last_used_at = :now WHERE id = :id "
            "AND (last_used_at IS NULL OR last_used_at < :now)"
        ),
        {"now": now, "id": key_id},
    )
