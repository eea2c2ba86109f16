"""Reading and writing purchase rows. A purchase is a checkout (the customer pays on the provider's
page) or an auto-recharge (charged off-session); each has an idempotency key under a unique
constraint, and the pack's credits, price and expiry as they were when it was made."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core.purchases.packs import CreditPack

CHECKOUT = "checkout"
AUTO_RECHARGE = "auto_recharge"
# pending: a checkout waiting for its payment; requested: an auto-recharge recorded by a crossing;
# charging: its off-session charge has been asked for; paid: the credits were granted; refunded: the
# whole payment was refunded at the provider; failed, skipped (auto-recharge not charged: cap,
# disabled, pack withdrawn), expired (a checkout never paid).
GRANTED = ("paid", "refunded")
FINISHED = ("paid", "refunded", "failed", "skipped", "expired")


@dataclass(frozen=True)
class Purchase:
    id: int
    organization_id: str
    pack_code: str
    kind: str
    provider: str
    status: str
    credits: int  # micro-credits
    price_cents: int
    currency: str
    expires_after_days: int | None
    idempotency_key: str
    checkout_reference: str | None
    payment_reference: str | None
    grant_id: int | None
    failure_reason: str | None
    attempts: int
    refunded_cents: int
    clawed_back: int  # micro-credits taken back after a refund
    unrecovered: int  # micro-credits a refund could not take back: already spent (or expired)
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def granted(self) -> bool:
        return self.status in GRANTED


_COLUMNS = ", ".join(f.name for f in fields(Purchase))


def load(connection: Connection, purchase_id: int, *, lock: bool = False) -> Purchase | None:
    sql = f"SELECT {_COLUMNS} FROM purchases WHERE id = :id" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = connection.execute(text(sql), {"id": purchase_id}).first()
    return None if row is None else Purchase(*row)


def find_by_payment(
    connection: Connection, provider: str, payment_reference: str, *, lock: bool = False
) -> Purchase | None:
    row = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM purchases WHERE provider = :p AND payment_reference = :ref"  # noqa: S608
            + (" FOR UPDATE" if lock else "")
        ),
        {"p": provider, "ref": payment_reference},
    ).first()
    return None if row is None else Purchase(*row)


def list_purchases(connection: Connection, organization_id: str, *, limit: int = 50) -> list[Purchase]:
    rows = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM purchases WHERE organization_id = :org "  # noqa: S608
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"org": organization_id, "limit": limit},
    )
    return [Purchase(*row) for row in rows]


def open_checkout(
    connection: Connection, organization_id: str, pack: CreditPack, provider: str, request: str, now: datetime
) -> Purchase:
    """The pending checkout purchase of this request (`request`: a digest of who asks for what, on
    which day), created if there is none. While it is pending, asking again gives the same one (and
    so the same provider checkout); once it is finished, the same request makes a new purchase."""
    prefix = f"checkout:{request}:"
    finished: int = connection.execute(
        text(
            "SELECT count(*) FROM purchases WHERE organization_id = :org AND kind = 'checkout' "
            "AND starts_with(idempotency_key, :prefix) AND status <> 'pending'"
        ),
        {"org": organization_id, "prefix": prefix},
    ).scalar_one()
    key = f"{prefix}{finished}"
    connection.execute(
        text(
            "INSERT INTO purchases (organization_id, pack_code, kind, provider, status, credits, "
            "price_cents, currency, expires_after_days, idempotency_key, created_at, updated_at) "
            "VALUES (:org, :pack, 'checkout', :provider, 'pending', :credits, :price, :currency, "
            ":days, :key, :now, :now) ON CONFLICT (idempotency_key) DO NOTHING"
        ),
        {
            "org": organization_id,
            "pack": pack.code,
            "provider": provider,
            "credits": pack.credits,
            "price": pack.price_cents,
            "currency": pack.currency,
            "days": pack.expires_after_days,
            "key": key,
            "now": now,
        },
    )
    row = connection.execute(
        text(f"SELECT {_COLUMNS} FROM purchases WHERE idempotency_key = :key"),  # noqa: S608
        {"key": key},
    ).one()
    return Purchase(*row)


_UPDATABLE = frozenset(
    {
        "status",
        "checkout_reference",
        "payment_reference",
        "grant_id",
        "failure_reason",
        "attempts",
        "refunded_cents",
        "clawed_back",
        "unrecovered",
        "paid_at",
    }
)


def update(connection: Connection, purchase_id: int, now: datetime, **changes: Any) -> None:
    """Set the given columns of a purchase the caller has locked (or just created)."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not an updatable purchase column: {sorted(unknown)}")
    assignments = ", ".join(f"{column} = :{column}" for column in sorted(changes))
    connection.execute(
        text(f"UPDATE purchases SET {assignments}, updated_at = :now WHERE id = :id"),  # noqa: S608
        {**changes, "id": purchase_id, "now": now},
    )
