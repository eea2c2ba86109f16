"""Request and response schemas (pydantic) of the subscription endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas_in import Identifier

Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s/?#]+[^\s]*$",
        examples=["https://app.example.com/billing/done"],
        description="an absolute http(s) URL",
    ),
]
Interval = Literal["month", "year"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckoutIn(_Body):
    plan: Identifier
    interval: Interval
    provider: Literal["stripe", "recurrente"]
    success_url: Url
    cancel_url: Url


class PortalIn(_Body):
    return_url: Url


class ChangeIn(_Body):
    plan: Identifier
    interval: Interval
    success_url: Url | None = Field(
        default=None, description="where a provider's payment page returns after paying an upgrade"
    )
    cancel_url: Url | None = Field(default=None, description="where it returns when the payer gives up")


class CheckoutOut(BaseModel):
    checkout_url: str
    provider: str
    provider_reference: str = Field(description="the provider's id of the checkout")


class PortalOut(BaseModel):
    url: str


class ScheduledChangeOut(BaseModel):
    plan: str
    interval: Interval
    effective_at: datetime = Field(description="the end of the current period")


class PendingUpgradeOut(BaseModel):
    plan: str
    charge_cents: int = Field(description="the prorated difference for the rest of the period")


class SubscriptionOut(BaseModel):
    organization_id: str
    plan: str = Field(description="`free` when there is no live subscription")
    status: Literal["none", "incomplete", "active", "past_due", "paused", "canceled"]
    interval: Interval | None
    provider: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    next_grant_at: datetime | None = Field(description="null when no further grant is due")
    cancel_at_period_end: bool
    scheduled_change: ScheduledChangeOut | None = Field(description="a downgrade or an interval change")
    pending_upgrade: PendingUpgradeOut | None = Field(description="an upgrade waiting for its payment")


class UpgradeOut(BaseModel):
    plan: str
    charge_cents: int
    currency: str
    status: Literal["charged", "awaiting_payment", "pending"] = Field(
        description="`charged`: the provider charges the saved payment method; `awaiting_payment`: "
        "the customer pays at `checkout_url`; `pending`: no provider (a manual subscription)"
    )
    checkout_url: str | None
    provider_reference: str | None


class ChangeOut(BaseModel):
    subscription: SubscriptionOut
    upgrade: UpgradeOut | None = Field(description="null for a downgrade, scheduled at period end")
