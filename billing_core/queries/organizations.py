"""Reading organizations: one by id, or whether it exists (an UnknownOrganization error if not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import UnknownOrganization


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    owner_user_id: str | None
    created_at: datetime


def get_organization(connection: Connection, organization_id: str) -> Organization:
    row = connection.execute(
        text("SELECT id, name, owner_user_id, created_at FROM organizations WHERE id = :id"),
        {"id": organization_id},
    ).first()
    if row is None:
        raise UnknownOrganization(organization_id)
    return Organization(*row)


def organization_exists(connection: Connection, organization_id: str) -> bool:
    return connection.execute(_FIND_ORGANIZATION, {"org": organization_id}).first() is not None


def require_organization(connection: Connection, organization_id: str, *, lock: bool = False) -> None:
    """UnknownOrganization unless it exists; with `lock`, hold its row (FOR KEY SHARE would let a
    concurrent insert of a dependent row through: FOR UPDATE serialises per-organization limits)."""
    sql = _LOCK_ORGANIZATION if lock else _FIND_ORGANIZATION
    if connection.execute(sql, {"org": organization_id}).first() is None:
        raise UnknownOrganization(organization_id)


_FIND_ORGANIZATION = text("SELECT 1 FROM organizations WHERE id = :org")
_LOCK_ORGANIZATION = text("SELECT 1 FROM organizations WHERE id = :org FOR UPDATE")


def ping(connection: Connection) -> None:
    """A round trip to the database (readiness checks)."""
    connection.execute(text("SELECT 1"))
