"""What every command needs: settings and an engine, created when the command runs."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from billing_core import audit
from billing_core.audit import Actor
from billing_core.db.engine import make_engine
from billing_core.db.uow import committed, read_only
from billing_core.errors import InvalidInput
from billing_core.settings import Settings, load_settings
from billing_core.usage.event import parse_time as parse_domain_time

T = TypeVar("T")


class CommandContext:
    def __init__(self, settings: Settings | None = None, actor_name: str | None = None) -> None:
        self.settings = settings or load_settings()
        self._actor_name = actor_name

    @cached_property
    def actor(self) -> Actor:
        """Who runs the command, for the audit log: `--as NAME`, or the OS user."""
        return Actor("cli", self._actor_name or getpass.getuser())

    def audited_write(
        self,
        action: str,
        work: Callable[[Connection], T],
        *,
        organization_id: str | None = None,
        target: Callable[[T], tuple[str, object]] | None = None,
        details: Callable[[T], Mapping[str, Any]] | None = None,
    ) -> T:
        """`write(work)` and its audit event by this command's actor, in the same transaction."""
        return self.write(
            audit.audited(
                self.actor, action, work, organization_id=organization_id, target=target, details=details
            )
        )

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings)

    def close(self) -> None:
        """Close the engine's connections, if the command opened any."""
        engine = self.__dict__.pop("engine", None)
        if engine is not None:
            engine.dispose()

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction that commits when it returns (retried on deadlock)."""
        return committed(self.engine, work)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` for reads only (no transaction block)."""
        return read_only(self.engine, work)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with a timezone ("Z" accepted), as an argparse type: the domain's own rule
    (billing_core.usage.event.parse_time), its error as argparse's."""
    try:
        return parse_domain_time(value, "time").astimezone(UTC)
    except InvalidInput as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("time: ") + f": {value!r}") from None


def utcnow() -> datetime:
    return datetime.now(UTC)
