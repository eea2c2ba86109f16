"""Notification endpoints: per organization or platform-wide, each with its own signing secret
(Standard Webhooks: `whsec_` + base64 of 24 random bytes), shown when created or rotated."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, UnknownEndpoint
from billing_core.notifications.events import EVENT_TYPES, PLATFORM_ONLY
from billing_core.notifications.urls import check_endpoint_url
from billing_core.queries.organizations import require_organization

_COLUMNS = (
    "id, organization_id, url, event_types, description, status, disabled_reason, failing_since, created_at"
)


@dataclass(frozen=True)
class Endpoint:
    id: int
    organization_id: str | None  # None: platform-wide
    url: str
    event_types: list[str] | None  # None: every type
    description: str
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: Endpoint
    secret: str


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _event_types(types: Sequence[str] | None, organization_id: str | None) -> list[str] | None:
    if types is None:
        return None
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown or not types:
        raise InvalidInput("events", f"unknown event type(s): {', '.join(unknown) or '(none given)'}")
    if organization_id is not None and PLATFORM_ONLY & set(types):
        raise InvalidInput(
            "events", f"{', '.join(sorted(PLATFORM_ONLY & set(types)))}: platform-wide endpoints only"
        )
    return sorted(set(types))


def add_endpoint(
    connection: Connection,
    url: str,
    *,
    organization_id: str | None,
    event_types: Sequence[str] | None,
    description: str = "",
    allow_private: bool,
) -> EndpointWithSecret:
    """A new enabled endpoint; InvalidInput for a URL that may not be reached or unknown types."""
    check_endpoint_url(url, allow_private=allow_private)
    if organization_id is not None:
        require_organization(connection, organization_id)
    secret = new_secret()
    row = connection.execute(
        text(
            "INSERT INTO notification_endpoints (organization_id, url, event_types, description, secret) "  # noqa: S608
            f"VALUES (:org, :url, :types, :description, :secret) RETURNING {_COLUMNS}"
        ),
        {
            "org": organization_id,
            "url": url,
            "types": _event_types(event_types, organization_id),
            "description": description[:500],
            "secret": secret,
        },
    ).one()
    return EndpointWithSecret(Endpoint(*row), secret)


def list_endpoints(connection: Connection, organization_id: str | None = None) -> list[Endpoint]:
    """Every endpoint, or one organization's (platform-wide ones are the admin's)."""
    rows = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM notification_endpoints "  # noqa: S608
            "WHERE CAST(:org AS text) IS NULL OR organization_id = :org ORDER BY id"
        ),
        {"org": organization_id},
    )
    return [Endpoint(*row) for row in rows]


def get_endpoint(connection: Connection, endpoint_id: int, organization_id: str | None = None) -> Endpoint:
    """The endpoint; UnknownEndpoint if absent or (with `organization_id`) another's."""
    row = connection.execute(
        text(f"SELECT {_COLUMNS} FROM notification_endpoints WHERE id = :id"),  # noqa: S608
        {"id": endpoint_id},
    ).first()
    if row is None or (organization_id is not None and row.organization_id != organization_id):
        raise UnknownEndpoint(endpoint_id)
    return Endpoint(*row)


def set_enabled(
    connection: Connection, endpoint_id: int, enabled: bool, reason: str | None, now: datetime
) -> Endpoint:
    row = connection.execute(
        text(
            "UPDATE notification_endpoints SET status = :status, disabled_reason = :reason, "  # noqa: S608
            f"failing_since = NULL, updated_at = :now WHERE id = :id RETURNING {_COLUMNS}"
        ),
        {
            "status": "enabled" if enabled else "disabled",
            "reason": None if enabled else reason,
            "now": now,
            "id": endpoint_id,
        },
    ).first()
    if row is None:
        raise UnknownEndpoint(endpoint_id)
    return Endpoint(*row)


def rotate_secret(connection: Connection, endpoint_id: int, now: datetime) -> EndpointWithSecret:
    secret = new_secret()
    row = connection.execute(
        text(
            "UPDATE notification_endpoints SET secret = :secret, updated_at = :now "  # noqa: S608
            f"WHERE id = :id RETURNING {_COLUMNS}"
        ),
        {"secret": secret, "now": now, "id": endpoint_id},
    ).first()
    if row is None:
        raise UnknownEndpoint(endpoint_id)
    return EndpointWithSecret(Endpoint(*row), secret)


def set_alert_thresholds(
    connection: Connection, organization_id: str, thresholds: Sequence[int]
) -> list[int]:
    """An organization's low-balance thresholds (percent of the period's allocation, 1-99)."""
    values = sorted(set(thresholds), reverse=True)
    if not values or len(values) > 5 or any(not 0 < t < 100 for t in values):
        raise InvalidInput("thresholds", "one to five whole percentages between 1 and 99")
    found = connection.execute(
        text("UPDATE balances SET low_balance_thresholds = :t WHERE organization_id = :org RETURNING 1"),
        {"t": values, "org": organization_id},
    ).first()
    if found is None:
        require_organization(connection, organization_id)
    return values
