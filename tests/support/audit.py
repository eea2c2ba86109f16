"""Reading the audit log in tests: every event, or those of one action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def audit_events(engine: Engine, action: str | None = None) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, actor_kind, actor, action, organization_id, target_kind, target_id, request_id, "
                "source_address, details FROM audit_events "
                "WHERE CAST(:action AS text) IS NULL OR action = :action ORDER BY id"
            ),
            {"action": action},
        )
        return [dict(r._mapping) for r in rows]


def audit_text(engine: Engine) -> str:
    """The whole log as one text, to look for what must never be in it."""
    with engine.connect() as connection:
        return "\n".join(
            str(row) for row in connection.execute(text("SELECT to_jsonb(a)::text FROM audit_events a"))
        )
