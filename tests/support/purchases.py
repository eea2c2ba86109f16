"""Credit packs, purchases and their provider events for tests: two packs, a purchase opened as the
checkout opens it, Stripe's and Recurrente's purchase events shaped like theirs, the inbox they go
through, and auto-recharge set up with a saved card."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from billing_core.errors import NotYet
from billing_core.notifications import endpoints
from billing_core.provider_events.inbox import record_delivery
from billing_core.provider_events.processing import process_inbox_row
from billing_core.purchases import methods, recharges, store
from billing_core.purchases.packs import PackChange, pack_on_sale, set_pack
from tests.support.ledger import committed
from tests.support.webhook_payloads import stripe_event

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def with_packs(engine: Engine) -> None:
    """`small`: 100 credits for US$10 with a Stripe price; `large`: 1,000 credits for US$80, stated
    inline at the providers, expiring a year after the payment."""
    committed(
        engine,
        lambda c: set_pack(
            c, "small", PackChange(credits=100_000_000, price_cents=1_000, stripe_price="price_small"), NOW
        ),
    )
    committed(
        engine,
        lambda c: set_pack(
            c,
            "large",
            PackChange(credits=1_000_000_000, price_cents=8_000, name="Large pack", expires_after_days=365),
            NOW,
        ),
    )


def open_purchase(
    engine: Engine, org: str, pack: str = "small", provider: str = "stripe", request: str = "r"
) -> store.Purchase:
    """A pending checkout purchase, as `start_purchase` opens it before calling the provider."""
    return committed(  # type: ignore[no-any-return]
        engine, lambda c: store.open_checkout(c, org, pack_on_sale(c, pack), provider, request, NOW)
    )


def purchase(engine: Engine, purchase_id: int) -> store.Purchase:
    with engine.connect() as c:
        found = store.load(c, purchase_id)
    assert found is not None
    return found


def purchases_of(engine: Engine, org: str) -> list[store.Purchase]:
    with engine.connect() as c:
        return list(reversed(store.list_purchases(c, org, limit=1000)))


def _metadata(p: store.Purchase) -> dict[str, str]:
    return {"organization_id": p.organization_id, "purchase_id": str(p.id), "pack": p.pack_code}


def checkout_completed(
    p: store.Purchase, *, event_id: str, paid: bool = True, kind: str = "checkout.session.completed"
) -> dict[str, Any]:
    session = {
        "id": f"cs_{p.id}",
        "object": "checkout.session",
        "mode": "payment",
        "customer": f"cus_{p.organization_id}",
        "payment_intent": f"pi_{p.id}",
        "payment_status": "paid" if paid else "unpaid",
        "status": "complete",
        "amount_total": p.price_cents,
        "currency": p.currency.lower(),
        "metadata": _metadata(p),
    }
    return stripe_event(kind, session, event_id=event_id)


def payment_succeeded(p: store.Purchase, *, event_id: str, method: str = "pm_card") -> dict[str, Any]:
    intent = {
        "id": f"pi_{p.id}",
        "object": "payment_intent",
        "amount": p.price_cents,
        "currency": p.currency.lower(),
        "customer": f"cus_{p.organization_id}",
        "payment_method": method,
        "status": "succeeded",
        "metadata": _metadata(p),
    }
    return stripe_event("payment_intent.succeeded", intent, event_id=event_id)


def charge_event(
    p: store.Purchase, *, event_id: str, refunded_cents: int = 0, kind: str = ""
) -> dict[str, Any]:
    charge = {
        "id": f"ch_{p.id}",
        "object": "charge",
        "amount": p.price_cents,
        "amount_refunded": refunded_cents,
        "currency": p.currency.lower(),
        "payment_intent": f"pi_{p.id}",
        "refunded": refunded_cents >= p.price_cents,
        "metadata": _metadata(p),
    }
    return stripe_event(
        kind or ("charge.refunded" if refunded_cents else "charge.succeeded"), charge, event_id=event_id
    )


def recurrente_pack_paid(p: store.Purchase, *, intent: str = "pa_pack") -> dict[str, Any]:
    return {
        "id": intent,
        "event_type": "payment_intent.succeeded",
        "api_version": "2024-04-24",
        "checkout": {"id": f"ch_{p.id}", "status": "paid", "metadata": _metadata(p)},
        "amount_in_cents": p.price_cents,
        "currency": p.currency,
        "created_at": NOW.isoformat(),
        "customer": {"email": "owner@acme.test", "id": "us_1"},
    }


def deliver(engine: Engine, provider: str, external_id: str, event: dict[str, Any]) -> int:
    kind = event.get("type") or event["event_type"]
    row = committed(engine, lambda c: record_delivery(c, provider, external_id, kind, event, NOW))
    assert row is not None
    return int(row)


def process(engine: Engine, row_id: int, now: datetime = NOW) -> str:
    return committed(engine, lambda c: process_inbox_row(c, row_id, now)).status  # type: ignore[no-any-return]


def process_all(engine: Engine, rows: list[int], now: datetime = NOW) -> list[str]:
    """In the given order; an event that must wait is retried after the others, as the queue would."""
    waiting, statuses = list(rows), {}
    for _ in range(len(rows) + 1):
        retry = []
        for row in waiting:
            try:
                statuses[row] = process(engine, row, now)
            except NotYet:
                retry.append(row)
        if not retry:
            return [statuses[r] for r in rows]
        waiting = retry
    raise AssertionError(f"rows never became processable: {waiting}")


def inbox_row(engine: Engine, row_id: int) -> tuple[str, str | None, str | None, int]:
    with engine.connect() as c:
        row = c.execute(
            text("SELECT status, reason, error, attempts FROM webhook_inbox WHERE id = :id"), {"id": row_id}
        ).one()
    return row[0], row[1], row[2], row[3]


def listening(engine: Engine) -> None:
    """A platform endpoint that wants every notification, so that each one is written."""
    committed(
        engine,
        lambda c: endpoints.add_endpoint(
            c, "http://127.0.0.1:9/hooks", organization_id=None, event_types=None, allow_private=True
        ),
    )


def notifications(engine: Engine, org: str, prefix: str = "purchase.") -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT event_type, payload FROM notification_events WHERE organization_id = :org "
                "AND starts_with(event_type, :prefix) ORDER BY id"
            ),
            {"org": org, "prefix": prefix},
        ).all()
    return [(t, p["data"]) for t, p in rows]


def auto_recharge(
    engine: Engine,
    org: str,
    *,
    threshold: int = 20_000_000,
    pack: str = "small",
    cap_cents: int = 10_000,
    card: bool = True,
) -> None:
    """Auto-recharge on (default: below 20 credits, pack `small`, US$100 a month), with a saved card."""
    if card:
        committed(engine, lambda c: methods.remember(c, org, f"cus_{org}", "pm_saved", NOW))
    committed(
        engine,
        lambda c: recharges.set_settings(
            c, org, NOW, enabled=True, threshold=threshold, pack_code=pack, monthly_cap_cents=cap_cents
        ),
    )
