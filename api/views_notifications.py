"""Notification endpoints over HTTP: platform-wide and any organization's with the admin token;
an organization's own with one of its API keys at `enterprise` access. Low-balance thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import BaseModel, Field

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.actors import audited_write
from api.auth import admin_required, organization_access
from api.runtime import now, read, runtime
from billing_core.access import roles
from billing_core.errors import UnknownEndpoint
from billing_core.notifications import endpoints
from billing_core.notifications.events import EVENT_TYPES

bp = APIBlueprint("notifications", __name__, url_prefix="/v1", tag="Notifications")
ORG = "/organizations/<org>"
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class EndpointIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description="https:// URL of the receiver")
    events: list[EventType] | None = Field(default=None, description="types to receive; none: all")
    description: str = Field(default="", max_length=500)


class PlatformEndpointIn(EndpointIn):
    organization_id: str | None = Field(default=None, description="only this organization's events")


class ThresholdsIn(BaseModel):
    thresholds: list[int] = Field(
        min_length=1, max_length=5, description="percent of the period's allocation"
    )


class EndpointOut(BaseModel):
    id: int
    organization_id: str | None
    url: str
    events: list[str] | None
    description: str
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class NewEndpointOut(EndpointOut):
    secret: str = Field(description="the signing secret (Standard Webhooks); shown only in this response")


class EndpointsOut(BaseModel):
    data: list[EndpointOut]


class ThresholdsOut(BaseModel):
    organization_id: str
    thresholds: list[int]


def _out(e: endpoints.Endpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "organization_id": e.organization_id,
        "url": e.url,
        "events": e.event_types,
        "description": e.description,
        "status": e.status,
        "disabled_reason": e.disabled_reason,
        "failing_since": e.failing_since,
        "created_at": e.created_at,
    }


def _create(org: str | None, body: EndpointIn) -> Any:
    allow = runtime().settings.notifications_allow_private
    made = audited_write(
        "notification_endpoint.create",
        lambda c: endpoints.add_endpoint(
            c,
            body.url,
            organization_id=org,
            event_types=body.events,
            description=body.description,
            allow_private=allow,
        ),
        organization_id=org,
        target=lambda m: ("notification_endpoint", m.endpoint.id),
        details=lambda m: {"url": m.endpoint.url, "events": m.endpoint.event_types},
    )
    return {**_out(made.endpoint), "secret": made.secret}, 201


def _set_enabled(endpoint_id: int, org: str | None, enabled: bool, reason: str | None) -> Any:
    _owned(endpoint_id, org)
    changed = audited_write(
        f"notification_endpoint.{'enable' if enabled else 'disable'}",
        lambda c: endpoints.set_enabled(c, endpoint_id, enabled, reason, now()),
        organization_id=org,
        target=lambda _: ("notification_endpoint", endpoint_id),
    )
    return _out(changed)


def _rotate(endpoint_id: int, org: str | None) -> Any:
    _owned(endpoint_id, org)
    made = audited_write(
        "notification_endpoint.rotate_secret",
        lambda c: endpoints.rotate_secret(c, endpoint_id, now()),
        organization_id=org,
        target=lambda _: ("notification_endpoint", endpoint_id),
    )
    return {**_out(made.endpoint), "secret": made.secret}


def _owned(endpoint_id: int, org: str | None) -> None:
    if endpoint_id >= 2**63:
        raise UnknownEndpoint(endpoint_id)
    read(lambda c: endpoints.get_endpoint(c, endpoint_id, org))


@bp.post("/notification-endpoints")
@admin_required(roles.BILLING)
@bp.input(PlatformEndpointIn, location="json", arg_name="body")
@bp.output(NewEndpointOut, status_code=201)
def create_endpoint(body: PlatformEndpointIn) -> Any:
    """A platform-wide endpoint (every organization's events), or one organization's."""
    return _create(body.organization_id, body)


@bp.get("/notification-endpoints")
@admin_required(roles.READ)
@bp.output(EndpointsOut)
def list_all_endpoints() -> Any:
    """Every endpoint (the secrets are never shown again)."""
    return {"data": [_out(e) for e in read(lambda c: endpoints.list_endpoints(c))]}


@bp.post(f"{ORG}/notification-endpoints")
@organization_access("enterprise", admin=roles.BILLING)
@bp.input(EndpointIn, location="json", arg_name="body")
@bp.output(NewEndpointOut, status_code=201)
def create_org_endpoint(org: str, body: EndpointIn) -> Any:
    """An endpoint for this organization's events."""
    return _create(org, body)


@bp.get(f"{ORG}/notification-endpoints")
@organization_access("enterprise", admin=roles.READ)
@bp.output(EndpointsOut)
def list_org_endpoints(org: str) -> Any:
    """This organization's endpoints."""
    return {"data": [_out(e) for e in read(lambda c: endpoints.list_endpoints(c, org))]}


@bp.post(f"{ORG}/notification-endpoints/<int:endpoint_id>/disable")
@organization_access("enterprise", admin=roles.BILLING)
@bp.output(EndpointOut)
def disable_org_endpoint(org: str, endpoint_id: int) -> Any:
    """Stop sending to this endpoint."""
    return _set_enabled(endpoint_id, org, False, "disabled over the API")


@bp.post(f"{ORG}/notification-endpoints/<int:endpoint_id>/rotate-secret")
@organization_access("enterprise", admin=roles.BILLING)
@bp.output(NewEndpointOut)
def rotate_org_endpoint(org: str, endpoint_id: int) -> Any:
    """A new signing secret (shown only in this response); the old one stops signing at once."""
    return _rotate(endpoint_id, org)


@bp.post("/notification-endpoints/<int:endpoint_id>/disable")
@admin_required(roles.BILLING)
@bp.output(EndpointOut)
def disable_endpoint(endpoint_id: int) -> Any:
    """Stop sending to an endpoint."""
    return _set_enabled(endpoint_id, None, False, "disabled by an admin")


@bp.post("/notification-endpoints/<int:endpoint_id>/enable")
@admin_required(roles.BILLING)
@bp.output(EndpointOut)
def enable_endpoint(endpoint_id: int) -> Any:
    """Send to a disabled endpoint again (new events; a failed delivery is replayed from the CLI)."""
    return _set_enabled(endpoint_id, None, True, None)


@bp.post("/notification-endpoints/<int:endpoint_id>/rotate-secret")
@admin_required(roles.BILLING)
@bp.output(NewEndpointOut)
def rotate_endpoint(endpoint_id: int) -> Any:
    """A new signing secret, shown only in this response."""
    return _rotate(endpoint_id, None)


@bp.put(f"{ORG}/balance-alerts")
@admin_required(roles.BILLING)
@bp.input(ThresholdsIn, location="json", arg_name="body")
@bp.output(ThresholdsOut)
def set_balance_alerts(org: str, body: ThresholdsIn) -> Any:
    """The organization's low-balance thresholds, in percent of the period's allocation."""
    values = audited_write(
        "balance_alerts.set",
        lambda c: endpoints.set_alert_thresholds(c, org, body.thresholds),
        organization_id=org,
        details=lambda v: {"thresholds": v},
    )
    return {"organization_id": org, "thresholds": values}
