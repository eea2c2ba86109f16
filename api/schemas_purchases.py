"""Request and response schemas (pydantic) of the credit pack, purchase and auto-recharge endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from api.schemas_in import Credits
from api.schemas_subscription import Url

PackCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Cents = Annotated[StrictInt, Field(ge=1, le=100_000_000_00, description="an amount in cents")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackOut(BaseModel):
    code: str
    name: str
    credits: str = Field(description="credits in the pack, as an exact decimal string")
    price_cents: int
    currency: str
    expires_after_days: int | None = Field(description="purchased credits expire this long after payment")


class PacksOut(BaseModel):
    data: list[PackOut]


class PurchaseCheckoutIn(_Body):
    pack: PackCode
    provider: Literal["stripe", "recurrente"]
    success_url: Url
    cancel_url: Url


class PurchaseCheckoutOut(BaseModel):
    checkout_url: str
    provider: str
    provider_reference: str = Field(description="the provider's id of the checkout")
    purchase_id: int


class PurchaseOut(BaseModel):
    id: int
    kind: Literal["checkout", "auto_recharge"]
    pack: str
    status: Literal["pending", "requested", "charging", "paid", "failed", "skipped", "expired", "refunded"]
    credits: str
    price_cents: int
    currency: str
    provider: str
    failure_reason: str | None
    refunded_cents: int
    credits_taken_back: str = Field(description="what refunds took back from the purchase's credits")
    credits_unrecovered: str = Field(description="what refunds could not take back: already spent")
    created_at: datetime
    paid_at: datetime | None


class PurchasesOut(BaseModel):
    data: list[PurchaseOut]


class PurchasesQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)


class AutoRechargeIn(_Body):
    enabled: StrictBool
    threshold: Credits | None = Field(default=None, description="recharge when the balance falls below this")
    pack: PackCode | None = None
    monthly_cap_cents: Cents | None = Field(default=None, description="at most this much charged a month")


class AutoRechargeOut(BaseModel):
    organization_id: str
    enabled: bool
    threshold: str | None
    pack: str | None
    monthly_cap_cents: int | None
    charged_this_month_cents: int
    saved_payment_method: bool = Field(description="a Stripe card saved by an earlier purchase")
