"""Console sessions, kept on the server: the browser holds only a random session id; the row keeps
its SHA-256 hash and who it stands for.

A session is live while it has not been ended (sign-out, revocation), has been used within the idle
limit, is younger than the absolute lifetime, and the identity behind it still holds: an API key
not revoked, the admin token unchanged (its HMAC is stored, so rotating ADMIN_TOKEN ends its
sessions), an admin key not revoked (`_identity_still_valid`). Validation is one query joining the
session with its key; last_seen_at is written at most once a minute per session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, text

from billing_core.access.roles import OWNER
from billing_core.errors import InvalidInput

IdentityKind = Literal["admin_token", "api_key", "admin_key"]
TOUCH_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, idle_minutes: float, max_hours: float) -> Lifetimes:
        return cls(timedelta(minutes=idle_minutes), timedelta(hours=max_hours))


@dataclass(frozen=True)
class Identity:
    """Who signs in: the admin token, an organization's API key, or a named admin key."""

    kind: IdentityKind
    display_name: str
    api_key_id: int | None = None
    admin_key_id: int | None = None
    admin_token_mac: str | None = None


@dataclass(frozen=True)
class LiveSession:
    id: int
    kind: IdentityKind
    display_name: str
    organization_id: str  # the organization opened
    key_organization_id: str | None  # an API key's own organization; None for admins
    api_key_id: int | None
    admin_key_id: int | None
    role: str | None  # the admin role (owner for the admin token); None for an API key
    needs_touch: bool

    @property
    def admin(self) -> bool:
        return self.kind != "api_key"


@dataclass(frozen=True)
class ConsoleSession:
    id: int
    identity_kind: str
    api_key_id: int | None
    admin_key_id: int | None
    display_name: str
    organization_id: str
    source_address: str | None
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    status: str  # live, ended, idle, expired


def hash_session(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def app_secret(connection: Connection) -> bytes:
    """The deployment's console secret (made by migration 0013), the same for every process."""
    return str(
        connection.execute(text("SELECT secret FROM console_secrets WHERE id = 1")).scalar_one()
    ).encode()


def mac(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}\n{value}".encode(), hashlib.sha256).hexdigest()


def start_session(
    connection: Connection, identity: Identity, organization_id: str, source: str | None, now: datetime
) -> str:
    """A new session for `identity`, opened on `organization_id`; returns its id (the cookie's value,
    which exists only there: the row holds its hash)."""
    session_id = secrets.token_urlsafe(32)
    connection.execute(
        text(
            "INSERT INTO console_sessions (token_hash, identity_kind, api_key_id, admin_key_id, "
            "admin_token_mac, display_name, organization_id, source_address, created_at, last_seen_at) "
            "VALUES (:hash, :kind, :api_key, :admin_key, :admin_mac, :name, :org, :source, :now, :now)"
        ),
        {
            "hash": hash_session(session_id),
            "kind": identity.kind,
            "api_key": identity.api_key_id,
            "admin_key": identity.admin_key_id,
            "admin_mac": identity.admin_token_mac,
            "name": identity.display_name[:200],
            "org": organization_id,
            "source": (source or "")[:100] or None,
            "now": now,
        },
    )
    return session_id


def _identity_still_valid(row: Any, admin_token_mac: str | None) -> bool:
    """Whether the credential behind a session still holds: its key not revoked, or the admin
    token unchanged."""
    if row.identity_kind == "api_key":
        return row.key_revoked_at is None and row.key_organization_id is not None
    if row.identity_kind == "admin_token":
        return admin_token_mac is not None and hmac.compare_digest(row.admin_token_mac, admin_token_mac)
    return row.admin_role is not None and row.admin_revoked_at is None


def _role(row: Any) -> str | None:
    if row.identity_kind == "admin_token":
        return OWNER
    return row.admin_role if row.identity_kind == "admin_key" else None


def validate_session(
    connection: Connection, session_id: str, now: datetime, limits: Lifetimes, admin_token_mac: str | None
) -> LiveSession | None:
    """The live session a cookie names, or None. `admin_token_mac` is the HMAC of the configured
    ADMIN_TOKEN (None when unset)."""
    if not session_id or len(session_id) > 100:
        return None
    row = connection.execute(
        text(
            "SELECT s.id, s.identity_kind, s.display_name, s.organization_id, s.api_key_id, s.admin_key_id, "
            "s.admin_token_mac, s.created_at, s.last_seen_at, s.ended_at, "
            "k.organization_id AS key_organization_id, k.revoked_at AS key_revoked_at, "
            "a.role AS admin_role, a.revoked_at AS admin_revoked_at "
            "FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id "
            "LEFT JOIN admin_keys a ON a.id = s.admin_key_id WHERE s.token_hash = :hash"
        ),
        {"hash": hash_session(session_id)},
    ).first()
    if row is None or row.ended_at is not None:
        return None
    if now - row.last_seen_at >= limits.idle or now - row.created_at >= limits.absolute:
        return None
    if not _identity_still_valid(row, admin_token_mac):
        return None
    return LiveSession(
        id=row.id,
        kind=row.identity_kind,
        display_name=row.display_name,
        organization_id=row.organization_id,
        key_organization_id=row.key_organization_id,
        api_key_id=row.api_key_id,
        admin_key_id=row.admin_key_id,
        role=_role(row),
        needs_touch=now - row.last_seen_at >= TOUCH_RESOLUTION,
    )


def touch_session(connection: Connection, session: int, now: datetime) -> None:
    connection.execute(
        text("UPDATE console_sessions SET last_seen_at = :now WHERE id = :id AND last_seen_at < :now"),
        {"id": session, "now": now},
    )


def open_organization(connection: Connection, session: int, organization_id: str) -> None:
    """An admin's session now shows another organization."""
    connection.execute(
        text("UPDATE console_sessions SET organization_id = :org WHERE id = :id AND ended_at IS NULL"),
        {"id": session, "org": organization_id},
    )


def end_session(connection: Connection, session_id: str, now: datetime, reason: str = "signed_out") -> None:
    connection.execute(
        text(
            "UPDATE console_sessions SET ended_at = :now, end_reason = :reason "
            "WHERE token_hash = :hash AND ended_at IS NULL"
        ),
        {"hash": hash_session(session_id), "now": now, "reason": reason},
    )


def revoke_sessions(
    connection: Connection,
    now: datetime,
    *,
    session: int | None = None,
    organization_id: str | None = None,
    every: bool = False,
) -> list[int]:
    """End one session, the sessions open on an organization, or all of them; returns the ids ended."""
    if sum((session is not None, organization_id is not None, every)) != 1:
        raise InvalidInput("sessions", "name one session, one organization, or all")
    rows = connection.execute(
        text(
            "UPDATE console_sessions SET ended_at = :now, end_reason = 'revoked' WHERE ended_at IS NULL "
            "AND (CAST(:all AS boolean) OR id = :id OR organization_id = :org) RETURNING id"
        ),
        {"now": now, "all": every, "id": session, "org": organization_id},
    )
    return sorted(r.id for r in rows)


def list_sessions(
    connection: Connection, now: datetime, limits: Lifetimes, *, include_ended: bool = False, limit: int = 500
) -> list[ConsoleSession]:
    """Live sessions (or every session, most recent first, with `include_ended`)."""
    rows = connection.execute(
        text(
            "SELECT s.id, s.identity_kind, s.api_key_id, s.admin_key_id, s.display_name, s.organization_id, "
            "s.source_address, s.created_at, s.last_seen_at, s.ended_at, s.end_reason, "
            "COALESCE(k.revoked_at, a.revoked_at) AS revoked_at "
            "FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id "
            "LEFT JOIN admin_keys a ON a.id = s.admin_key_id "
            "WHERE CAST(:all AS boolean) OR (s.ended_at IS NULL AND s.last_seen_at > :idle "
            "AND s.created_at > :old AND k.revoked_at IS NULL AND a.revoked_at IS NULL) "
            "ORDER BY s.id DESC LIMIT :limit"
        ),
        {"all": include_ended, "idle": now - limits.idle, "old": now - limits.absolute, "limit": limit},
    )
    return [
        ConsoleSession(
            **{k: v for k, v in row._mapping.items() if k != "revoked_at"}, status=_status(row, now, limits)
        )
        for row in rows
    ]


def _status(row: Any, now: datetime, limits: Lifetimes) -> str:
    if row.ended_at is not None:
        return "ended"
    if row.revoked_at is not None:
        return "key_revoked"
    if now - row.created_at >= limits.absolute:
        return "expired"
    return "idle" if now - row.last_seen_at >= limits.idle else "live"
