"""`billing up`: prepare the database (embedded by default), seed prices, and start the system."""

from __future__ import annotations

import argparse

from billing_cli.context import CommandContext, utcnow
from billing_cli.seed_prices import SEED_EFFECTIVE_AT, seed_model_prices, seed_tool_prices
from billing_core.db.uow import UnitOfWork
from billing_core.prices import add_model_prices, add_tool_price
from migrations import runner


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser("up", help="migrate, seed default prices, and run the system")
    up.set_defaults(run=up_cmd)


def prepare(ctx: CommandContext) -> None:
    """Migrate and seed default prices; both are no-ops when already done."""
    runner.upgrade(ctx.engine)
    usd, markup = ctx.settings.usd_per_credit, ctx.settings.price_markup
    models = seed_model_prices(usd, markup, utcnow().date())
    tools = seed_tool_prices(usd, markup)

    def seed(uow: UnitOfWork) -> None:
        add_model_prices(uow.connection, models)
        for tool, price in tools.items():
            add_tool_price(uow.connection, tool, price, SEED_EFFECTIVE_AT)

    ctx.write(seed)


def up_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    prepare(ctx)
    where = (
        "embedded PostgreSQL under " + ctx.settings.data_dir
        if not ctx.settings.database_url
        else "DATABASE_URL"
    )
    print(f"database ready ({where}), schema migrated, default prices seeded")
    print(
        "try: billing orgs create demo-org && billing credits grant demo-org 1000 --idempotency-key welcome"
    )
    print("     billing balance demo-org")
    return 0
