"""Migrations: up from an empty database, idempotent, and down again."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from migrations import runner

TABLES = {
    "organizations",
    "users",
    "agents",
    "plans",
    "subscriptions",
    "credit_grants",
    "credit_transactions",
    "balances",
    "model_prices",
    "tool_prices",
    "usage_daily",
    "rejected_events",
    "webhook_inbox",
}


def test_migrations_go_up_from_empty_twice_without_change_and_down_to_nothing(empty_database_url):
    engine = create_engine(empty_database_url)
    try:
        assert runner.current_revision(engine) is None
        runner.upgrade(engine)
        head = runner.current_revision(engine)
        assert head is not None
        assert TABLES <= set(inspect(engine).get_table_names())
        runner.upgrade(engine)
        assert runner.current_revision(engine) == head
        runner.downgrade(engine, "base")
        assert runner.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) & TABLES == set()
        runner.upgrade(engine)
        assert runner.current_revision(engine) == head
    finally:
        engine.dispose()
