"""The events agent runtimes publish, validated at construction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KNOWN_TOOLS = ("image_generation", "web_search")


def _now() -> datetime:
    return datetime.now(UTC)


def _require_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: a non-empty string is required")
    if len(value) > 200:
        raise ValueError(f"{name}: at most 200 characters")


def _require_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")


def _require_aware(name: str, value: object) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware (naive datetimes are ambiguous)")


@dataclass(frozen=True)
class MessageCompleted:
    """One message an agent processed. `input_tokens` counts every input token, cached included;
    `cached_input_tokens` is the part served from cache. `tools` maps a tool name to a count."""

    event_id: str
    organization_id: str
    agent_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    tools: Mapping[str, int] = field(default_factory=dict)
    user_id: str | None = None
    conversation_id: str | None = None
    occurred_at: datetime = field(default_factory=_now)
    api_key: str | None = None  # the public prefix of the API key to bill this usage to (budgets)
    hold_id: int | None = None  # the credit hold (POST .../holds) this message settles

    def __post_init__(self) -> None:
        for name in ("event_id", "organization_id", "agent_id", "model"):
            _require_id(name, getattr(self, name))
        for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
            _require_count(name, getattr(self, name))
        if self.cached_input_tokens > self.input_tokens:
            raise ValueError("cached_input_tokens: cannot exceed input_tokens, which includes them")
        if not isinstance(self.tools, Mapping):
            raise ValueError("tools: must map a tool name to a count")
        for tool, count in self.tools.items():
            if tool not in KNOWN_TOOLS:
                raise ValueError(f"tools: unknown tool {tool!r} (known: {', '.join(KNOWN_TOOLS)})")
            _require_count(f"tools.{tool}", count)
        for name in ("user_id", "conversation_id", "api_key"):
            if getattr(self, name) is not None:
                _require_id(name, getattr(self, name))
        if self.hold_id is not None and (not isinstance(self.hold_id, int) or self.hold_id <= 0):
            raise ValueError(f"hold_id: must be a positive integer, got {self.hold_id!r}")
        _require_aware("occurred_at", self.occurred_at)

    def to_wire(self) -> dict[str, Any]:
        """The JSON shape the usage worker consumes (docs/events.md)."""
        return {
            "event_id": self.event_id,
            "organization_id": self.organization_id,
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "tools": {k: v for k, v in self.tools.items() if v},
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            **{k: v for k, v in (("api_key", self.api_key), ("hold_id", self.hold_id)) if v is not None},
        }

    @classmethod
    def from_openai_usage(cls, usage: Mapping[str, Any], **ids: Any) -> MessageCompleted:
        """From an OpenAI `usage` object. Chat Completions: prompt_tokens (cached included) and
        prompt_tokens_details.cached_tokens; Responses API: input_tokens and
        input_tokens_details.cached_tokens."""
        if "input_tokens" in usage:
            total_in = usage.get("input_tokens") or 0
            details = usage.get("input_tokens_details") or {}
            output = usage.get("output_tokens") or 0
        else:
            total_in = usage.get("prompt_tokens") or 0
            details = usage.get("prompt_tokens_details") or {}
            output = usage.get("completion_tokens") or 0
        cached = details.get("cached_tokens") or 0
        return cls(input_tokens=total_in, cached_input_tokens=cached, output_tokens=output, **ids)

    @classmethod
    def from_anthropic_usage(cls, usage: Mapping[str, Any], **ids: Any) -> MessageCompleted:
        """From an Anthropic `usage` object, whose input_tokens EXCLUDES cache reads and writes:
        the total input is input_tokens + cache_creation_input_tokens + cache_read_input_tokens,
        of which the cache reads are the cached part. Server tool use (web search) is counted too."""
        uncached = usage.get("input_tokens") or 0
        created = usage.get("cache_creation_input_tokens") or 0
        read = usage.get("cache_read_input_tokens") or 0
        tools = dict(ids.pop("tools", {}) or {})
        searches = (usage.get("server_tool_use") or {}).get("web_search_requests") or 0
        if searches:
            tools["web_search"] = tools.get("web_search", 0) + searches
        return cls(
            input_tokens=uncached + created + read,
            cached_input_tokens=read,
            output_tokens=usage.get("output_tokens") or 0,
            tools=tools,
            **ids,
        )


@dataclass(frozen=True)
class InteractionFailed:
    """An interaction failed or was cancelled: the credits of `original_event_id` are returned."""

    event_id: str
    original_event_id: str
    organization_id: str
    reason: str
    occurred_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        for name in ("event_id", "original_event_id", "organization_id"):
            _require_id(name, getattr(self, name))
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValueError("reason: a non-empty string is required")
        _require_aware("occurred_at", self.occurred_at)

    def to_wire(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "original_event_id": self.original_event_id,
            "organization_id": self.organization_id,
            "reason": self.reason,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
        }


def usage_payloads(events: Iterable[object], method: str) -> list[dict[str, Any]]:
    """The wire form of the usage events given to a publisher's `method`; anything else is refused."""
    payloads = []
    for event in events:
        if not isinstance(event, MessageCompleted):
            raise TypeError(f"{method}() takes MessageCompleted events")
        payloads.append(event.to_wire())
    return payloads


def failure_payload(event: object) -> dict[str, Any]:
    """The wire form of a failure report given to a publisher's `publish_failure`."""
    if not isinstance(event, InteractionFailed):
        raise TypeError("publish_failure() takes an InteractionFailed")
    return event.to_wire()
