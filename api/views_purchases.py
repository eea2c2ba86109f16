"""Buying credits over HTTP: the credit packs, a pack's checkout, the organization's purchases and its
auto-recharge setting (billing_core/purchases/actions.py does the work, shared with the console)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.auth import level_access, organization_access
from api.redirects import check_redirects
from api.runtime import now, read, runtime
from api.schemas_purchases import (
    AutoRechargeIn,
    AutoRechargeOut,
    PacksOut,
    PurchaseCheckoutIn,
    PurchaseCheckoutOut,
    PurchasesOut,
    PurchasesQuery,
)
from billing_core.access import roles
from billing_core.money import credits_to_micros, micros_to_text
from billing_core.purchases import actions
from billing_core.purchases.packs import CreditPack, list_packs
from billing_core.purchases.recharges import RechargeView, recharge_view
from billing_core.purchases.store import Purchase, list_purchases
from billing_core.queries.organizations import require_organization

bp = APIBlueprint("purchases", __name__, url_prefix="/v1", tag="Purchases")
ORG = "/organizations/<org>"
ACCESS = "enterprise"  # as the subscription endpoints; the console serves every organization


def pack_out(pack: CreditPack) -> dict[str, Any]:
    return {
        "code": pack.code,
        "name": pack.name,
        "credits": micros_to_text(pack.credits),
        "price_cents": pack.price_cents,
        "currency": pack.currency,
        "expires_after_days": pack.expires_after_days,
    }


def purchase_out(p: Purchase) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "pack": p.pack_code,
        "status": p.status,
        "credits": micros_to_text(p.credits),
        "price_cents": p.price_cents,
        "currency": p.currency,
        "provider": p.provider,
        "failure_reason": p.failure_reason,
        "refunded_cents": p.refunded_cents,
        "credits_taken_back": micros_to_text(p.clawed_back),
        "credits_unrecovered": micros_to_text(p.unrecovered),
        "created_at": p.created_at,
        "paid_at": p.paid_at,
    }


def recharge_out(org: str, view: RechargeView) -> dict[str, Any]:
    s = view.settings
    return {
        "organization_id": org,
        "enabled": view.enabled,
        "threshold": micros_to_text(s.threshold) if s else None,
        "pack": s.pack_code if s else None,
        "monthly_cap_cents": s.monthly_cap_cents if s else None,
        "charged_this_month_cents": view.charged_this_month_cents,
        "saved_payment_method": view.saved_payment_method,
    }


@bp.get("/credit-packs")
@level_access(ACCESS, admin=roles.READ)
@bp.output(PacksOut)
def get_credit_packs() -> Any:
    """The credit packs on sale: credits, price and the optional expiry of what they buy."""
    return {"data": [pack_out(p) for p in read(lambda c: list_packs(c, active_only=True))]}


@bp.post(f"{ORG}/purchases/checkout")
@organization_access(ACCESS, admin=roles.BILLING)
@bp.input(PurchaseCheckoutIn, location="json", arg_name="body")
@bp.output(PurchaseCheckoutOut)
@bp.doc(
    responses={
        502: "The payment provider refused the call or could not be reached",
        503: "The payment provider is not configured on this server",
    }
)
def create_purchase_checkout(org: str, body: PurchaseCheckoutIn) -> Any:
    """The provider's checkout page for one credit pack (Stripe Checkout in payment mode, or
    Recurrente's checkout). The credits are granted once the provider reports the payment, once.
    The same request on the same UTC day gives the same checkout while it is not paid."""
    check_redirects(success_url=body.success_url, cancel_url=body.cancel_url)
    wanted = actions.PurchaseRequest(body.pack, body.provider, body.success_url, body.cancel_url)
    link = actions.start_purchase(runtime().engine, runtime().payments, org, wanted, now())
    return {
        "checkout_url": link.url,
        "provider": link.provider,
        "provider_reference": link.provider_reference,
        "purchase_id": link.purchase_id,
    }


@bp.get(f"{ORG}/purchases")
@organization_access(ACCESS, admin=roles.READ)
@bp.input(PurchasesQuery, location="query", arg_name="query")
@bp.output(PurchasesOut)
def get_purchases(org: str, query: PurchasesQuery) -> Any:
    """The organization's purchases, newest first: checkouts and auto-recharges, their status, and
    what refunds took back."""

    def work(connection: Any) -> list[Purchase]:
        require_organization(connection, org)
        return list_purchases(connection, org, limit=query.limit)

    return {"data": [purchase_out(p) for p in read(work)]}


@bp.get(f"{ORG}/auto-recharge")
@organization_access(ACCESS, admin=roles.READ)
@bp.output(AutoRechargeOut)
def get_auto_recharge(org: str) -> Any:
    """The auto-recharge setting, what it charged this month and whether a card is saved."""
    return recharge_out(org, read(lambda c: recharge_view(c, org, now())))


@bp.put(f"{ORG}/auto-recharge")
@organization_access(ACCESS, admin=roles.BILLING)
@bp.input(AutoRechargeIn, location="json", arg_name="body")
@bp.output(AutoRechargeOut)
def put_auto_recharge(org: str, body: AutoRechargeIn) -> Any:
    """Turn auto-recharge on (buy `pack` off-session with the saved card when the balance falls
    below `threshold`, at most `monthly_cap_cents` a month, once per crossing) or off. Values left
    out are kept from before; a new setting needs all three."""
    threshold = None if body.threshold is None else credits_to_micros(body.threshold, field="threshold")
    actions.configure_auto_recharge(
        runtime().engine,
        org,
        now(),
        enabled=body.enabled,
        threshold=threshold,
        pack=body.pack,
        monthly_cap_cents=body.monthly_cap_cents,
    )
    return recharge_out(org, read(lambda c: recharge_view(c, org, now())))
