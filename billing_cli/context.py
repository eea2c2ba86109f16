"""What every command needs: settings and an engine, created when the command runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TypeVar

from sqlalchemy import Engine

from billing_core.db.engine import make_engine
from billing_core.db.uow import UnitOfWork, run_in_transaction
from billing_core.settings import Settings, load_settings

T = TypeVar("T")


class CommandContext:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings)

    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a transaction that commits when it returns (retried on deadlock)."""

        def committed(uow: UnitOfWork) -> T:
            value = work(uow)
            uow.commit()
            return value

        return run_in_transaction(self.engine, committed)

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        with UnitOfWork(self.engine) as uow:
            return work(uow)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with a timezone ("Z" accepted); naive times are refused."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"time needs a timezone (e.g. Z): {value!r}")
    return parsed.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
