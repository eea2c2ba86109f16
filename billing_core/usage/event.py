"""Decoding events from their JSON form (the contract of docs/events.md), whoever produced them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from billing_core.errors import InvalidInput
from billing_core.ledger.usage import UsageEvent
from billing_core.pricing.rules import MessageUsage

_ID_FIELDS = ("event_id", "organization_id", "agent_id", "model")
_OPTIONAL_IDS = ("user_id", "conversation_id", "api_key")
_COUNTS = ("input_tokens", "output_tokens", "cached_input_tokens")
_KNOWN = {*_ID_FIELDS, *_OPTIONAL_IDS, *_COUNTS, "tools", "occurred_at", "hold_id"}


def _text(raw: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if type(value) is not str or not 0 < len(value) <= 200 or value.isspace():
        raise InvalidInput(name, "a non-empty string of at most 200 characters is required")
    if "\x00" in value:
        raise InvalidInput(name, "must not contain the NUL character")
    return value


def _count(raw: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(name, f"must be a non-negative integer, got {value!r}")
    return value


def parse_time(value: object, name: str = "occurred_at") -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(name, "an ISO 8601 time with a timezone is required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(name, f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(name, "must carry a timezone")
    return parsed


def parse_usage_event(raw: object) -> UsageEvent:
    """A message-completed event from its JSON object; InvalidInput names the first bad field."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("event", "must be a JSON object")
    unknown = set(raw) - _KNOWN
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown field")
    ids = {name: _text(raw, name, required=True) for name in _ID_FIELDS}
    optional = {name: _text(raw, name, required=False) for name in _OPTIONAL_IDS}
    tools_raw = raw.get("tools") or {}
    if not isinstance(tools_raw, Mapping):
        raise InvalidInput("tools", "must map a tool name to a count")
    tools = {str(name): _count(tools_raw, name) for name in tools_raw}
    usage = MessageUsage(
        model=str(ids["model"]),
        input_tokens=_count(raw, "input_tokens"),
        output_tokens=_count(raw, "output_tokens"),
        cached_input_tokens=_count(raw, "cached_input_tokens", 0),
        tools=tools,
    )
    return UsageEvent(
        event_id=str(ids["event_id"]),
        organization_id=str(ids["organization_id"]),
        agent_id=str(ids["agent_id"]),
        usage=usage,
        occurred_at=parse_time(raw.get("occurred_at")),
        user_id=optional["user_id"],
        conversation_id=optional["conversation_id"],
        api_key=optional["api_key"],
        hold_id=_hold_id(raw.get("hold_id")),
    )


def _hold_id(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise InvalidInput("hold_id", f"must be the id of a credit hold (a positive integer), got {value!r}")
    return value
