"""Credit packs: what an organization can buy (`billing packs list|set`, `GET /v1/credit-packs`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, PackNotOffered, UnknownPack

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_EXPIRY_DAYS = 3660


@dataclass(frozen=True)
class CreditPack:
    code: str
    name: str
    credits: int  # micro-credits
    price_cents: int
    currency: str  # ISO 4217, upper case
    stripe_price: str | None  # a Stripe price id; without one the checkout states the price inline
    recurrente_product: str | None  # a Recurrente price id; likewise
    expires_after_days: int | None  # purchased credits expire this many days after the payment
    active: bool


_COLUMNS = ", ".join(f.name for f in fields(CreditPack))


def list_packs(connection: Connection, *, active_only: bool = False) -> list[CreditPack]:
    rows = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM credit_packs "  # noqa: S608
            "WHERE active OR NOT :active_only ORDER BY price_cents, code"
        ),
        {"active_only": active_only},
    )
    return [CreditPack(*row) for row in rows]


def get_pack(connection: Connection, code: str) -> CreditPack:
    row = connection.execute(
        text(f"SELECT {_COLUMNS} FROM credit_packs WHERE code = :code"),  # noqa: S608
        {"code": code},
    ).first()
    if row is None:
        raise UnknownPack(code)
    return CreditPack(*row)


def pack_on_sale(connection: Connection, code: str) -> CreditPack:
    """The pack, if it can be bought now; UnknownPack or PackNotOffered otherwise."""
    pack = get_pack(connection, code)
    if not pack.active:
        raise PackNotOffered(code)
    return pack


@dataclass(frozen=True)
class PackChange:
    """What `set_pack` was given; None leaves a setting as it is (a new pack needs credits and price)."""

    credits: int | None = None
    price_cents: int | None = None
    currency: str | None = None
    name: str | None = None
    stripe_price: str | None = None
    recurrente_product: str | None = None
    expires_after_days: int | None = None
    no_expiry: bool = False  # clear an expiry set before
    active: bool | None = None


def _checked(change: PackChange) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in ("credits", "price_cents"):
        value = getattr(change, name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInput(name, "must be a positive integer")
            values[name] = value
    if change.currency is not None:
        currency = change.currency.upper()
        if not _CURRENCY.match(currency):
            raise InvalidInput("currency", "a three-letter ISO 4217 code, e.g. usd")
        values["currency"] = currency
    if change.name is not None:
        if not 1 <= len(change.name.strip()) <= 200:
            raise InvalidInput("name", "1-200 characters")
        values["name"] = change.name.strip()
    for name in ("stripe_price", "recurrente_product"):
        value = getattr(change, name)
        if value is not None:
            if not 1 <= len(value) <= 200 or value.strip() != value:
                raise InvalidInput(name, "1-200 characters without spaces around")
            values[name] = value
    if change.expires_after_days is not None:
        if change.no_expiry:
            raise InvalidInput("expires_after_days", "give an expiry or no expiry, not both")
        if not 1 <= change.expires_after_days <= MAX_EXPIRY_DAYS:
            raise InvalidInput("expires_after_days", f"between 1 and {MAX_EXPIRY_DAYS} days")
        values["expires_after_days"] = change.expires_after_days
    if change.no_expiry:
        values["expires_after_days"] = None
    if change.active is not None:
        values["active"] = change.active
    return values


def set_pack(connection: Connection, code: str, change: PackChange, now: datetime) -> tuple[CreditPack, bool]:
    """Create the pack or change the settings given; returns it and whether it was created. A pack
    is never deleted (purchases name it): withdraw it from sale with `active=False`."""
    if not _CODE.match(code):
        raise InvalidInput("code", "1-64 letters, digits, '-' or '_'")
    values = _checked(change)
    exists = connection.execute(
        text("SELECT 1 FROM credit_packs WHERE code = :code FOR UPDATE"), {"code": code}
    ).first()
    if exists is None:
        for required in ("credits", "price_cents"):
            if required not in values:
                raise InvalidInput(required, "is required for a new pack")
        row = {"name": code.replace("_", " ").replace("-", " ").title(), "currency": "USD", **values}
        columns = sorted(row)
        connection.execute(
            text(
                f"INSERT INTO credit_packs (code, {', '.join(columns)}, created_at, updated_at) "  # noqa: S608
                f"VALUES (:code, {', '.join(':' + c for c in columns)}, :now, :now)"
            ),
            {**row, "code": code, "now": now},
        )
    elif values:
        assignments = ", ".join(f"{c} = :{c}" for c in sorted(values))
        connection.execute(
            text(f"UPDATE credit_packs SET {assignments}, updated_at = :now WHERE code = :code"),  # noqa: S608
            {**values, "code": code, "now": now},
        )
    return get_pack(connection, code), exists is None
