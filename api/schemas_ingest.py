"""Schemas of service keys and of event ingestion (`POST /v1/events`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas_out import Money

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]


class ServiceKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    scopes: list[Literal["ingest", "read"]] = Field(min_length=1, description="ingest, read, or both")
    organizations: list[Identifier] | None = Field(
        default=None, min_length=1, description="the organizations the key may act for; absent: all"
    )


class ServiceKeyOut(BaseModel):
    id: int
    prefix: str
    name: str
    scopes: list[str]
    organizations: list[str] | None = Field(description="null: every organization")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewServiceKeyOut(ServiceKeyOut):
    key: str = Field(description="the whole key; shown only in this response")


class ServiceKeysOut(BaseModel):
    data: list[ServiceKeyOut]


class RejectedOut(BaseModel):
    index: int = Field(description="the event's position in the batch, from 0")
    event_id: str | None
    type: str = Field(description="validation_error, forbidden_organization, unknown_model, ...")
    field: str | None = Field(description="the offending field, when there is one")
    error: str = Field(description="what is wrong, naming the field")


class OutcomeOut(BaseModel):
    index: int
    event_id: str
    outcome: Literal["charged", "duplicate", "refunded", "refund_pending", "rejected"]
    cost: Money | None = Field(description="charged: the debit, in credits")


class IngestOut(BaseModel):
    accepted: int = Field(description="events taken: published with confirms (202) or recorded (200)")
    duplicates: list[str] | None = Field(
        description="event ids already charged (200); null when the workers decide it later (202)"
    )
    rejected: list[RejectedOut] = Field(description="events refused, none of them charged")
    events: list[OutcomeOut] | None = Field(
        description="200 only: each accepted event's outcome and cost; null with a broker (202)"
    )
