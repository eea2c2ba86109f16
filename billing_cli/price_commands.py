"""`billing prices seed|set|set-tool|list`: the versioned price catalog."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection

from billing_cli.context import CommandContext, parse_time, utcnow
from billing_cli.output import table, to_json
from billing_cli.seed_prices import SEED_EFFECTIVE_AT, seed_model_prices, seed_tool_prices
from billing_core.pricing.catalog import (
    KNOWN_TOOLS,
    NewModelPrice,
    add_model_prices,
    add_tool_price,
    list_model_prices,
    list_tool_prices,
)


def decimal_arg(value: str) -> Decimal:
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal number: {value!r}") from None
    if not parsed.is_finite() or parsed < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number: {value!r}")
    return parsed


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    prices = sub.add_parser("prices", help="the price catalog").add_subparsers(
        dest="prices_cmd", required=True
    )
    seed = prices.add_parser("seed", help="load default prices of popular models (offline)")
    seed.add_argument("--usd-per-credit", type=decimal_arg, help="default: BILLING_USD_PER_CREDIT or 0.01")
    seed.add_argument("--markup", type=decimal_arg, help="default: BILLING_PRICE_MARKUP or 1.0")
    seed.set_defaults(run=prices_seed)

    set_ = prices.add_parser("set", help="add a price version for a model (credits per 1M tokens)")
    set_.add_argument("model")
    set_.add_argument("--input", type=decimal_arg, required=True)
    set_.add_argument("--output", type=decimal_arg, required=True)
    set_.add_argument("--cached-input", type=decimal_arg, help="default: the input price")
    set_.add_argument("--effective-at", type=parse_time, help="default: now")
    set_.set_defaults(run=prices_set)

    tool = prices.add_parser("set-tool", help="add a price version for a tool (credits per call)")
    tool.add_argument("tool", choices=KNOWN_TOOLS)
    tool.add_argument("--per-call", type=decimal_arg, required=True)
    tool.add_argument("--effective-at", type=parse_time, help="default: now")
    tool.set_defaults(run=prices_set_tool)

    lst = prices.add_parser("list", help="every price version")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=prices_list)


def prices_seed(ctx: CommandContext, args: argparse.Namespace) -> int:
    usd = args.usd_per_credit or ctx.settings.usd_per_credit
    markup = args.markup or ctx.settings.price_markup
    if usd <= 0:
        raise SystemExit("--usd-per-credit must be positive")
    models = seed_model_prices(usd, markup, utcnow().date())
    tools = seed_tool_prices(usd, markup)

    def work(c: Connection) -> tuple[int, int]:
        added = add_model_prices(c, models)
        added_tools = sum(add_tool_price(c, t, p, SEED_EFFECTIVE_AT) for t, p in tools.items())
        return added, added_tools

    added, added_tools = ctx.audited_write(
        "price.seed", work, details=lambda r: {"model_versions": r[0], "tool_versions": r[1]}
    )
    print(
        f"seeded {added} model prices ({len(models) - added} already present) and {added_tools} tool prices"
    )
    return 0


def prices_set(ctx: CommandContext, args: argparse.Namespace) -> int:
    price = NewModelPrice(
        model=args.model,
        input_per_m=args.input,
        output_per_m=args.output,
        cached_input_per_m=args.cached_input,
        effective_at=args.effective_at or utcnow(),
    )
    per_m = {"input_per_m": price.input_per_m, "output_per_m": price.output_per_m}
    details = {**per_m, "cached_input_per_m": price.cached_input_per_m, "effective_at": price.effective_at}
    added = ctx.audited_write(
        "price.set",
        lambda c: add_model_prices(c, [price]),
        target=lambda _: ("model", args.model),
        details=lambda n: {**{k: None if v is None else str(v) for k, v in details.items()}, "added": n},
    )
    print(
        f"{args.model}: {'added a price version' if added else 'a version at that time already exists'}"
        f" effective {price.effective_at.isoformat()}"
    )
    return 0 if added else 1


def prices_set_tool(ctx: CommandContext, args: argparse.Namespace) -> int:
    at = args.effective_at or utcnow()
    added = ctx.audited_write(
        "price.set",
        lambda c: add_tool_price(c, args.tool, args.per_call, at),
        target=lambda _: ("tool", args.tool),
        details=lambda n: {"per_call": str(args.per_call), "effective_at": at, "added": bool(n)},
    )
    print(f"{args.tool}: {'added a price version' if added else 'a version at that time already exists'}")
    return 0 if added else 1


def prices_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    models = ctx.read(lambda c: list_model_prices(c))
    tools = ctx.read(lambda c: list_tool_prices(c))
    if args.json:
        print(
            to_json(
                {
                    "models": [
                        {
                            "id": m.id,
                            "model": m.model,
                            "effective_at": m.effective_at,
                            "input_per_m": m.input_per_m,
                            "cached_input_per_m": m.cached_input_per_m,
                            "output_per_m": m.output_per_m,
                            "source": source,
                        }
                        for m, source in models
                    ],
                    "tools": [
                        {"id": t.id, "tool": t.tool, "effective_at": t.effective_at, "per_call": t.per_call}
                        for t in tools
                    ],
                }
            )
        )
        return 0
    print(
        table(
            ["version", "model", "effective_at", "input/1M", "cached/1M", "output/1M"],
            [
                (
                    m.id,
                    m.model,
                    m.effective_at.isoformat(),
                    m.input_per_m,
                    m.cached_input_per_m,
                    m.output_per_m,
                )
                for m, _ in models
            ],
        )
    )
    print()
    print(
        table(
            ["version", "tool", "effective_at", "per call"],
            [(t.id, t.tool, t.effective_at.isoformat(), t.per_call) for t in tools],
        )
    )
    return 0
