"""Response schemas (pydantic). Credits are exact decimal strings with six decimals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Money = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{6}$", examples=["-0.002350"])]
Percent = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["42.50"])]


class ExpiringGrantOut(BaseModel):
    grant_id: int
    source: str
    remaining: Money
    expires_at: datetime


class BalanceOut(BaseModel):
    organization_id: str
    balance: Money
    allocated: Money = Field(description="granted in the current period")
    used: Money = Field(description="consumed in the current period, net of refunds")
    remaining_percent: Percent
    overdraft: Money
    period_start: datetime
    period_end: datetime
    expiring_soon: list[ExpiringGrantOut] = Field(description="grants expiring within 7 days")
    as_of: datetime


class ReferenceOut(BaseModel):
    type: str
    id: str


class TransactionOut(BaseModel):
    id: int
    created_at: datetime
    occurred_at: datetime
    type: str
    amount: Money
    balance_after: Money
    description: str
    user_id: str | None
    agent_id: str | None
    reference: ReferenceOut
    event_id: str | None
    model: str | None
    input_tokens: int | None
    cached_input_tokens: int | None
    output_tokens: int | None
    tools: dict[str, int] | None
    price_version: int | None = Field(description="id of the model price version used")
    audit_event_id: int | None = Field(
        default=None, description="the audit event of a row a person caused (bonus grants, admin refunds)"
    )


class TransactionPageOut(BaseModel):
    data: list[TransactionOut]
    next_cursor: str | None
    has_more: bool


class UsageTotalsOut(BaseModel):
    credits: Money = Field(description="net of refunds")
    refunded: Money
    messages: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    tool_calls: int


class ModelUsageOut(UsageTotalsOut):
    model: str


class DayOut(UsageTotalsOut):
    date: date
    models: list[ModelUsageOut]


class TrendOut(BaseModel):
    last_7_days: Money
    previous_7_days: Money
    change_percent: Percent | None


class ForecastOut(BaseModel):
    balance: Money
    burn_rate_per_day: Money
    projected_run_out_date: date | None = Field(
        description="null when nothing is being used or the balance lasts more than a century"
    )
    period_end: datetime
    needed_until_period_end: Money
    allowance_lasts_until_period_end: bool


class UsageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    organization_id: str
    from_: date = Field(alias="from")
    to: date
    days: list[DayOut]
    totals: UsageTotalsOut
    trend: TrendOut
    forecast: ForecastOut


class MetricGroupOut(UsageTotalsOut):
    key: str | None


class MetricsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    organization_id: str
    from_: date = Field(alias="from")
    to: date
    group_by: str
    groups: list[MetricGroupOut]


class CheckOut(BaseModel):
    sufficient: bool
    balance: Money
    estimated_cost: Money


class OrganizationOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    created: bool


class AgentOut(BaseModel):
    organization_id: str
    id: str
    name: str | None
    created: bool
    agents: int
    max_agents: int


class PlanPriceOut(BaseModel):
    interval: Literal["month", "year"]
    price_cents: int
    currency: str


class PlanOut(BaseModel):
    code: str
    name: str
    credits_per_month: Money
    max_organizations: int
    max_agents_per_organization: int
    api_access: str
    support_level: str
    monthly_price_cents: int
    yearly_price_cents: int = Field(description="12 × monthly × 0.8 (20% off), exact in cents")
    currency: str
    prices: list[PlanPriceOut] = Field(description="The price of each billing interval")


class PlansOut(BaseModel):
    data: list[PlanOut]


class EntitlementsOut(BaseModel):
    organization_id: str
    plan: PlanOut
    subscription_status: str | None
    api_access: str
    support_level: str
    credits_per_month: Money
    max_organizations: int
    max_agents: int
    agents: int
    agents_remaining: int


class GrantOut(BaseModel):
    transaction: TransactionOut
    grant_id: int | None
    expires_at: datetime | None


class RefundOut(BaseModel):
    transaction: TransactionOut
    balance: str


class ApiKeyOut(BaseModel):
    id: int
    organization_id: str
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="the whole key; shown only in this response")


class ApiKeysOut(BaseModel):
    data: list[ApiKeyOut]


class RejectedEventOut(BaseModel):
    id: int
    kind: str
    reason: str
    detail: str
    event_id: str | None
    organization_id: str | None
    payload: Any
    status: str
    created_at: datetime


class RejectedEventsOut(BaseModel):
    data: list[RejectedEventOut]


class ReplayOut(BaseModel):
    replayed: int
    charged: int
    still_rejected: int


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    database: str
    broker: str
