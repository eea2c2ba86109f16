"""`billing plans list|set`: the plan catalog, with both billing intervals' prices."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import credits, table, to_json
from billing_core.money import credits_to_micros
from billing_core.plans.catalog import SUPPORT_LEVELS, PlanConfig, list_plan_configs, set_plan
from billing_core.plans.plans import ACCESS_LEVELS


def _credits(value: str) -> int:
    try:
        return credits_to_micros(value)
    except Exception:
        raise argparse.ArgumentTypeError(f"not a credit amount: {value!r}") from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    plans = sub.add_parser("plans", help="the plan catalog").add_subparsers(dest="plans_cmd", required=True)
    lst = plans.add_parser("list", help="every plan, with monthly and yearly prices")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=plans_list)

    set_ = plans.add_parser("set", help="create a plan or change some of its settings")
    set_.add_argument("code")
    set_.add_argument("--credits-per-month", type=_credits, required=True, help="credits (decimal)")
    set_.add_argument("--name")
    set_.add_argument("--monthly-price-cents", type=int)
    set_.add_argument("--max-organizations", type=int)
    set_.add_argument("--max-agents", type=int, dest="max_agents_per_organization")
    set_.add_argument("--api-access", choices=ACCESS_LEVELS)
    set_.add_argument("--support", choices=SUPPORT_LEVELS, dest="support_level")
    set_.add_argument("--stripe-price-monthly")
    set_.add_argument("--stripe-price-yearly")
    set_.add_argument("--recurrente-product-monthly")
    set_.add_argument("--recurrente-product-yearly")
    set_.add_argument("--rollover", action=argparse.BooleanOptionalAction, default=None)
    set_.set_defaults(run=plans_set)


def describe(plan: PlanConfig) -> dict[str, Any]:
    return {
        **asdict(plan),
        "credits_per_month": credits(plan.credits_per_month),
        "yearly_price_cents": plan.price_cents("year"),
    }


def plans_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    plans = ctx.read(lambda c: list_plan_configs(c))
    if args.json:
        print(to_json([describe(p) for p in plans]))
        return 0
    print(
        table(
            ["code", "name", "credits/month", "monthly", "yearly", "agents", "api", "rollover"],
            [
                (
                    p.code,
                    p.name,
                    credits(p.credits_per_month),
                    f"{_cents(p.monthly_price_cents)} {p.currency}",
                    f"{_cents(p.price_cents('year'))} {p.currency}",
                    p.max_agents_per_organization,
                    p.api_access,
                    "yes" if p.rollover else "no",
                )
                for p in plans
            ],
        )
    )
    return 0


_SETTINGS = (
    "name",
    "monthly_price_cents",
    "max_organizations",
    "max_agents_per_organization",
    "api_access",
    "support_level",
    "stripe_price_monthly",
    "stripe_price_yearly",
    "recurrente_product_monthly",
    "recurrente_product_yearly",
    "rollover",
)


def plans_set(ctx: CommandContext, args: argparse.Namespace) -> int:
    changes = {name: getattr(args, name) for name in _SETTINGS}
    now = utcnow()
    given = {k: v for k, v in changes.items() if v is not None}
    plan, created = ctx.audited_write(
        "plan.set",
        lambda c: set_plan(c, args.code, now, credits_per_month=args.credits_per_month, **changes),
        target=lambda _: ("plan", args.code),
        details=lambda r: {
            "created": r[1],
            "credits_per_month": args.credits_per_month,
            "changes": {k: str(v) for k, v in given.items()},
        },
    )
    print(
        f"{'created' if created else 'updated'} plan {plan.code}: {credits(plan.credits_per_month)} "
        f"credits/month, {_cents(plan.monthly_price_cents)}/month, {_cents(plan.price_cents('year'))}/year"
    )
    return 0


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
