"""The audit log: who did which privileged action, written in the action's own transaction.

Every use case an admin, an organization's key or an operator can trigger that moves money or
changes settings or credentials calls `record` with the connection of its unit of work, so a
rolled-back action leaves no entry and a committed one always has its entry. `audit_events` is
append-only (a trigger refuses UPDATE and DELETE).

Details hold what a reader needs to understand the action: before/after for settings, money as
decimal strings. Floats and whole keys are refused here, so a careless caller fails loudly
instead of writing a secret or an inexact amount into a log nobody can correct.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, text

T = TypeVar("T")
ACTOR_KINDS = ("admin_key", "admin_token", "api_key", "service_key", "cli", "system")
# A whole key (prefix and secret) of any kind; a prefix alone is public and allowed.
_SECRET = re.compile(r"bk_(live|svc|adm)_[a-z0-9]{8}_\S")


@dataclass(frozen=True)
class Actor:
    """Who acts: an admin key's name, `admin-token`, an API key's prefix, a CLI user, `system`."""

    kind: str
    name: str
    request_id: str | None = None
    source_address: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"unknown actor kind {self.kind!r}")


SYSTEM = Actor("system", "system")


def _checked(value: Any, path: str) -> Any:
    if isinstance(value, float):
        raise TypeError(f"audit details {path}: a float; money goes in as a decimal string")
    if isinstance(value, str) and _SECRET.search(value):
        raise ValueError(f"audit details {path}: holds a whole key")
    if isinstance(value, Mapping):
        return {str(k): _checked(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_checked(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def reserve_id(connection: Connection) -> int:
    """An id for an event recorded later in this transaction, for a row that must name it first
    (credit_transactions.audit_event_id is checked at commit)."""
    return int(connection.execute(text("SELECT nextval('audit_events_id_seq')")).scalar_one())


def record(
    connection: Connection,
    actor: Actor,
    action: str,
    *,
    organization_id: str | None = None,
    target: tuple[str, object] | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    event_id: int | None = None,
) -> int:
    """Append one audit event in the caller's transaction; returns its id."""
    target_kind, target_id = (target[0], str(target[1])) if target is not None else (None, None)
    row = connection.execute(
        text(
            "INSERT INTO audit_events (id, occurred_at, actor_kind, actor, action, organization_id, "
            "target_kind, target_id, request_id, source_address, details) VALUES "
            "(COALESCE(:id, nextval('audit_events_id_seq')), :at, :kind, :actor, :action, :org, "
            ":target_kind, :target_id, :request_id, :source, CAST(:details AS jsonb)) RETURNING id"
        ),
        {
            "id": event_id,
            "at": now or datetime.now(UTC),
            "kind": actor.kind,
            "actor": actor.name,
            "action": action,
            "org": organization_id,
            "target_kind": target_kind,
            "target_id": target_id,
            "request_id": actor.request_id or None,
            "source": actor.source_address,
            "details": json.dumps(_checked(dict(details or {}), "details")),
        },
    ).scalar_one()
    return int(row)


def audited(
    actor: Actor,
    action: str,
    work: Callable[[Connection], T],
    *,
    organization_id: str | None = None,
    target: Callable[[T], tuple[str, object]] | None = None,
    details: Callable[[T], Mapping[str, Any]] | None = None,
) -> Callable[[Connection], T]:
    """`work` followed by its audit event, for a unit of work to run (target and details are
    taken from work's result): if work fails or the transaction rolls back, no event is left."""

    def run(connection: Connection) -> T:
        result = work(connection)
        record(
            connection,
            actor,
            action,
            organization_id=organization_id,
            target=target(result) if target is not None else None,
            details=details(result) if details is not None else None,
        )
        return result

    return run


def record_sign_in(
    connection: Connection, actor: Actor, succeeded: bool, *, organization_id: str | None = None
) -> int:
    """A console sign-in (`console.sign_in`) or a refused one (`console.sign_in_failed`; then the
    actor is whatever the form claimed, never the token)."""
    action = "console.sign_in" if succeeded else "console.sign_in_failed"
    return record(connection, actor, action, organization_id=organization_id)
