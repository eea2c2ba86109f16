"""The plan catalog as operators edit it: every column of a plan, including provider price ids."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, UnknownPlan
from billing_core.plans.plans import ACCESS_LEVELS, Plan

SUPPORT_LEVELS = ("standard", "priority")


# The full plan record; one definition, in plans.py.
PlanConfig = Plan


_COLUMNS = ", ".join(f.name for f in fields(PlanConfig))


def list_plan_configs(connection: Connection) -> list[PlanConfig]:
    rows = connection.execute(
        text(f"SELECT {_COLUMNS} FROM plans ORDER BY monthly_price_cents, code")  # noqa: S608
    )
    return [PlanConfig(*row) for row in rows]


def get_plan_config(connection: Connection, code: str) -> PlanConfig:
    row = connection.execute(
        text(f"SELECT {_COLUMNS} FROM plans WHERE code = :code"),  # noqa: S608
        {"code": code},
    ).first()
    if row is None:
        raise UnknownPlan(code)
    return PlanConfig(*row)


# Columns `set_plan` may change, and the defaults of a new plan.
_DEFAULTS: dict[str, object] = {
    "max_organizations": 1,
    "max_agents_per_organization": 1,
    "api_access": "basic",
    "support_level": "standard",
    "monthly_price_cents": 0,
    "currency": "USD",
    "rollover": False,
    "stripe_price_monthly": None,
    "stripe_price_yearly": None,
    "recurrente_product_monthly": None,
    "recurrente_product_yearly": None,
}


def _check(changes: dict[str, object]) -> None:
    for column in ("credits_per_month", "monthly_price_cents"):
        value = changes.get(column)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise InvalidInput(column, "must be a non-negative integer")
    for column in ("max_organizations", "max_agents_per_organization"):
        value = changes.get(column)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidInput(column, "must be a positive integer")
    if changes.get("api_access") not in (None, *ACCESS_LEVELS):
        raise InvalidInput("api_access", f"must be one of {', '.join(ACCESS_LEVELS)}")
    if changes.get("support_level") not in (None, *SUPPORT_LEVELS):
        raise InvalidInput("support_level", f"must be one of {', '.join(SUPPORT_LEVELS)}")


def set_plan(
    connection: Connection, code: str, now: datetime, *, credits_per_month: int, **changes: object
) -> tuple[PlanConfig, bool]:
    """Create the plan or change the given columns of it (None leaves a column as it is).
    Returns the plan and whether it was created."""
    unknown = set(changes) - set(_DEFAULTS) - {"name"}
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "is not a plan setting")
    if not code or len(code) > 64 or not code.replace("_", "").replace("-", "").isalnum():
        raise InvalidInput("code", "1-64 letters, digits, '-' or '_'")
    given = {k: v for k, v in changes.items() if v is not None}
    given["credits_per_month"] = credits_per_month
    _check(given)
    exists = connection.execute(
        text("SELECT 1 FROM plans WHERE code = :code FOR UPDATE"), {"code": code}
    ).first()
    if exists is None:
        values = {**_DEFAULTS, "name": code.replace("_", " ").title(), **given, "code": code, "now": now}
        columns = [c for c in values if c != "now"]
        connection.execute(
            text(
                f"INSERT INTO plans ({', '.join(columns)}, created_at, updated_at) "  # noqa: S608
                f"VALUES ({', '.join(':' + c for c in columns)}, :now, :now)"
            ),
            values,
        )
    else:
        assignments = ", ".join(f"{c} = :{c}" for c in given)
        connection.execute(
            text(f"UPDATE plans SET {assignments}, updated_at = :now WHERE code = :code"),  # noqa: S608
            {**given, "code": code, "now": now},
        )
    return get_plan_config(connection, code), exists is None
