"""Reading organizations: one by id, or an UnknownOrganization error."""

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


def ping(connection: Connection) -> None:
    """A round trip to the database (readiness checks)."""
    connection.execute(text("SELECT 1"))
