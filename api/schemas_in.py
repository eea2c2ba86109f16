"""Request schemas (pydantic): query strings, headers and JSON bodies. They are also the OpenAPI
document's description of the requests, so what is accepted is what is documented."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema

TRANSACTION_TYPES = ("usage", "subscription_credit", "bonus", "purchase", "refund", "expiration")
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]
MAX_GRANT_CREDITS = 1_000_000_000
# Credits as a decimal string (at most 6 decimals) or an integer; never a float.
CREDITS_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
_CREDITS_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": CREDITS_PATTERN, "examples": ["12.5"]},
        {"type": "integer", "minimum": 0, "maximum": MAX_GRANT_CREDITS},
    ],
    "description": "credits as a decimal string (at most 6 decimals) or an integer; never a float",
}


def _credits(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("give credits as a decimal string or an integer, never a float")
    if isinstance(value, int) and not 0 <= value <= MAX_GRANT_CREDITS:
        raise ValueError(f"at most {MAX_GRANT_CREDITS} credits at a time")
    if isinstance(value, str) and re.fullmatch(CREDITS_PATTERN, value) is None:
        raise ValueError("a plain decimal with at most 6 decimals is required, e.g. 12.5")
    return value


Credits = Annotated[Any, BeforeValidator(_credits), WithJsonSchema(_CREDITS_SCHEMA)]
TokenCount = Annotated[StrictInt, Field(ge=0, le=10_000_000_000)]


def optional_query(schema: dict[str, Any]) -> Any:
    """An optional query parameter documented as its plain type (absent = not given)."""
    return WithJsonSchema(schema)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransactionsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200, description="rows per page")
    cursor: Annotated[
        str | None, optional_query({"type": "string", "maxLength": 100, "description": "next_cursor"})
    ] = Field(default=None, max_length=100)
    type: Annotated[
        Literal["usage", "subscription_credit", "bonus", "purchase", "refund", "expiration"] | None,
        optional_query({"type": "string", "enum": list(TRANSACTION_TYPES)}),
    ] = None
    user_id: Annotated[Identifier | None, optional_query({"type": "string", "minLength": 1})] = None
    agent_id: Annotated[Identifier | None, optional_query({"type": "string", "minLength": 1})] = None


_DATE = {"type": "string", "format": "date"}


class RangeQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Annotated[date | None, optional_query({**_DATE, "description": "first day (UTC)"})] = Field(
        default=None, alias="from"
    )
    to: Annotated[date | None, optional_query({**_DATE, "description": "last day, included"})] = None


class MetricsQuery(RangeQuery):
    group_by: Literal["model", "agent", "user", "tool", "day"] = "model"


class RejectedQuery(BaseModel):
    reason: Annotated[str | None, optional_query({"type": "string", "maxLength": 100})] = Field(
        default=None, max_length=100
    )
    status: Literal["pending", "replayed", "resolved"] = "pending"
    limit: int = Field(default=100, ge=1, le=1000)


class IdempotencyHeader(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    idempotency_key: str = Field(alias="Idempotency-Key", min_length=1, max_length=200)


class EstimateIn(_Body):
    model: Identifier
    input_tokens: TokenCount = 0
    max_output_tokens: TokenCount = 0
    tools: dict[
        Annotated[str, Field(min_length=1, max_length=100)], Annotated[StrictInt, Field(ge=0, le=1_000_000)]
    ] = Field(default_factory=dict, max_length=20, description="tool name -> number of calls")


class CheckIn(_Body):
    estimate: EstimateIn | None = None
    agent_id: Identifier | None = Field(default=None, description="the agent: its budgets are checked")
    user_id: Identifier | None = Field(default=None, description="the user: their budgets are checked")
    api_key: Identifier | None = Field(
        default=None, description="an API key prefix whose budgets apply (default: the calling key's)"
    )


class OrganizationIn(_Body):
    id: Identifier
    name: Annotated[str, Field(max_length=200)] | None = None
    owner_user_id: Identifier | None = Field(
        default=None, description="the owner; their best plan's max_organizations limits how many they own"
    )


class AgentIn(_Body):
    id: Identifier
    name: Annotated[str, Field(max_length=200)] | None = None


class CreditsIn(_Body):
    credits: Credits
    description: Annotated[str, Field(max_length=500)] = ""
    expires_at: AwareDatetime | None = None


class RefundIn(_Body):
    event_id: Identifier
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class ApiKeyIn(_Body):
    name: Annotated[str, Field(max_length=200)] = ""


class ReplayIn(_Body):
    reason: Annotated[str, Field(max_length=100)] | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=1000)] = 1000
