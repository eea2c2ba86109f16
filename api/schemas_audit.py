"""Request and response schemas of the admin keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.schemas_in import optional_query
from billing_core.access.roles import ROLES

_NAME = r"^[A-Za-z0-9._@-]{1,100}$"
_Text = Annotated[str | None, optional_query({"type": "string", "minLength": 1, "maxLength": 200})]
_Time = Annotated[AwareDatetime | None, optional_query({"type": "string", "format": "date-time"})]


class AdminKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME, description="who holds the key; unique among active keys")
    role: Literal["owner", "billing", "support", "read"] = Field(description=f"one of {', '.join(ROLES)}")


class AdminKeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str = Field(description="the public part of the key")
    created_at: datetime
    created_by: str = Field(description="the actor who created it")
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="refreshed at most once a minute")


class NewAdminKeyOut(AdminKeyOut):
    key: str = Field(description="the whole key: shown in this response only")


class AdminKeysOut(BaseModel):
    data: list[AdminKeyOut]


class AuditQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200, description="events per page")
    cursor: Annotated[
        str | None, optional_query({"type": "string", "maxLength": 100, "description": "next_cursor"})
    ] = Field(default=None, max_length=100)
    actor: _Text = Field(default=None, min_length=1, max_length=200)
    action: _Text = Field(default=None, min_length=1, max_length=200)
    organization: _Text = Field(default=None, min_length=1, max_length=200)
    since: _Time = Field(default=None, description="occurred at or after")
    until: _Time = Field(default=None, description="occurred before")


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor_kind: str = Field(description="admin_key, admin_token, api_key, service_key, cli or system")
    actor: str
    action: str = Field(examples=["credits.grant"])
    organization_id: str | None
    target_kind: str | None
    target_id: str | None
    request_id: str | None
    source_address: str | None
    details: dict[str, Any] = Field(description="before/after of settings; money as decimal strings")


class AuditPageOut(BaseModel):
    data: list[AuditEventOut]
    next_cursor: str | None
    has_more: bool
