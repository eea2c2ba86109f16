"""Console sessions: list them (owner and support), end one (owner); as `billing sessions list|revoke`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, Field

from api.actors import audited_write
from api.auth import admin_required
from api.runtime import now, read, runtime
from billing_core.access import roles
from billing_core.access.console_sessions import Lifetimes, list_sessions, revoke_sessions

bp = APIBlueprint("console_sessions", __name__, url_prefix="/v1", tag="Admin")


class SessionsQuery(BaseModel):
    all: bool = Field(default=False, description="ended, idle, expired and key-revoked sessions too")


class ConsoleSessionOut(BaseModel):
    id: int
    identity_kind: str = Field(description="admin_token, api_key or admin_key")
    api_key_id: int | None
    admin_key_id: int | None
    display_name: str
    organization_id: str = Field(description="the organization the session has open")
    source_address: str | None
    created_at: datetime
    last_seen_at: datetime = Field(description="recorded at most once a minute")
    ended_at: datetime | None
    end_reason: str | None
    status: str = Field(description="live, ended, idle, expired or key_revoked")


class ConsoleSessionsOut(BaseModel):
    data: list[ConsoleSessionOut]


class EndedOut(BaseModel):
    ended: list[int] = Field(description="the sessions this call ended (empty: unknown or already ended)")


def _limits() -> Lifetimes:
    settings = runtime().settings
    return Lifetimes.of(settings.console_session_idle_minutes, settings.console_session_max_hours)


@bp.get("/console-sessions")
@admin_required(roles.AUDIT)
@bp.input(SessionsQuery, location="query", arg_name="query")
@bp.output(ConsoleSessionsOut)
def list_console_sessions(query: SessionsQuery) -> Any:
    """The billing console's live sessions, most recent first (at most 500)."""
    at, limits = now(), _limits()
    return {
        "data": [asdict(s) for s in read(lambda c: list_sessions(c, at, limits, include_ended=query.all))]
    }


@bp.delete("/console-sessions/<int:session_id>")
@admin_required(roles.OWNER)
@bp.output(EndedOut)
def end_console_session(session_id: int) -> Any:
    """End a console session at once: its cookie, and any copy of it, stops working."""
    if session_id >= 2**63:
        return {"ended": []}
    at = now()
    ended = audited_write(
        "console_session.revoke",
        lambda c: revoke_sessions(c, at, session=session_id),
        target=lambda _: ("console_session", session_id),
        details=lambda ids: {"sessions": ids},
    )
    return {"ended": ended}
