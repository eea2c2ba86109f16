"""A batch of events received over HTTP, plain JSON or CloudEvents 1.0, decoded into wire events
(docs/events.md) one at a time: an invalid event is refused on its own, with its index, its event
id and a message naming the field, and the others of the batch go on.

Plain JSON events have the wire shape; one with `original_event_id` is a failure report (a
refund of a failed interaction), any other a message-completed event. A CloudEvent carries the
wire fields in `data`, its `id` as the event id, `time` as `occurred_at`, `subject` (optional) as
the organization, and one of the two types below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from billing_core.errors import InvalidInput
from billing_core.json_depth import MAX_DEPTH, too_deep
from billing_core.ledger.refund_requests import parse_failure
from billing_core.usage.event import parse_usage_event

MESSAGE_COMPLETED = "com.agent-credit-billing.message.completed"
INTERACTION_FAILED = "com.agent-credit-billing.interaction.failed"
MAX_EVENTS = 1000
Kind = Literal["usage", "failure"]
FORBIDDEN_ORGANIZATION = "forbidden_organization"
VALIDATION_ERROR = "validation_error"


@dataclass(frozen=True)
class Accepted:
    """A valid event the caller may report, in its wire form."""

    index: int
    event_id: str
    organization_id: str
    kind: Kind
    wire: Mapping[str, Any]


@dataclass(frozen=True)
class Refused:
    """An event refused before anything was published or charged."""

    index: int
    event_id: str | None
    type: str
    field: str | None
    error: str


@dataclass
class DecodedBatch:
    usage: list[Accepted] = field(default_factory=list)
    failures: list[Accepted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def events_of_body(body: bytes, *, cloudevents: bool, single: bool) -> list[object]:
    """The events of a request body: a JSON array, `{"events": [...]}` (plain JSON only), or one
    CloudEvent (`single`). InvalidInput("body") for anything else."""
    if too_deep(body):  # checked again after a gunzip; the API checks the raw body before auth
        raise InvalidInput("body", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("body", f"not valid JSON ({error})") from None
    if single:
        if not isinstance(value, dict):
            raise InvalidInput("body", "a CloudEvent must be a JSON object")
        return [value]
    if not cloudevents and isinstance(value, dict) and set(value) == {"events"}:
        value = value["events"]
    if not isinstance(value, list):
        expected = "a JSON array of CloudEvents" if cloudevents else 'a JSON array, or {"events": [...]}'
        raise InvalidInput("body", f"a batch must be {expected}")
    return value


def body_may_hold_nul(body: bytes) -> bool:
    """Whether a JSON body can hold a NUL character: only as the escape \\u0000 (a raw control
    character is not valid JSON), so a body without one needs no per-event search."""
    return b"\\u0000" in body


def decode_batch(
    raw_events: list[object],
    *,
    cloudevents: bool,
    may_report: Callable[[str], bool],
    may_hold_nul: bool = True,
) -> DecodedBatch:
    """Check every event on its own; `may_report(organization_id)` says whether the caller may
    report that organization's events (others are refused as forbidden_organization)."""
    batch = DecodedBatch()
    for index, raw in enumerate(raw_events):
        event_id = _event_id_of(raw, cloudevents)
        try:
            kind, wire = _from_cloudevent(raw) if cloudevents else _from_plain(raw)
            if may_hold_nul:
                _refuse_nul(wire)
            organization_id = _validated_organization(kind, wire)
        except InvalidInput as error:
            name = _field_as_sent(error.field, cloudevents)
            message = str(error).split(": ", 1)[-1]
            batch.refused.append(Refused(index, event_id, VALIDATION_ERROR, name, f"{name}: {message}"))
            continue
        if not may_report(organization_id):
            message = f"organization_id: this key may not report events of {organization_id!r}"
            batch.refused.append(Refused(index, event_id, FORBIDDEN_ORGANIZATION, "organization_id", message))
            continue
        accepted = Accepted(index, str(wire["event_id"]), organization_id, kind, wire)
        (batch.usage if kind == "usage" else batch.failures).append(accepted)
    return batch


def _from_plain(raw: object) -> tuple[Kind, Mapping[str, Any]]:
    if not isinstance(raw, Mapping):
        raise InvalidInput("event", "must be a JSON object")
    return ("failure" if "original_event_id" in raw else "usage"), raw


def _from_cloudevent(raw: object) -> tuple[Kind, Mapping[str, Any]]:
    if not isinstance(raw, Mapping):
        raise InvalidInput("event", "must be a JSON object (a CloudEvent)")
    if raw.get("specversion") != "1.0":
        raise InvalidInput("specversion", 'must be "1.0"')
    for name in ("id", "source"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise InvalidInput(name, "a non-empty string is required")
    if raw.get("type") not in (MESSAGE_COMPLETED, INTERACTION_FAILED):
        raise InvalidInput("type", f"must be {MESSAGE_COMPLETED} or {INTERACTION_FAILED}")
    if raw.get("datacontenttype", "application/json") != "application/json":
        raise InvalidInput("datacontenttype", "must be application/json")
    data = raw.get("data")
    if not isinstance(data, Mapping):
        raise InvalidInput("data", "a JSON object with the event's fields is required")
    for name in ("event_id", "occurred_at"):
        if name in data:
            raise InvalidInput(f"data.{name}", "is given by the CloudEvent's id and time: leave it out")
    if "time" not in raw:
        raise InvalidInput("time", "the time of the event is required")
    wire = {**data, "event_id": raw["id"], "occurred_at": raw["time"]}
    subject = raw.get("subject")
    if subject is not None:
        if "organization_id" in data and data["organization_id"] != subject:
            raise InvalidInput("subject", "must be the organization of data.organization_id")
        wire["organization_id"] = subject
    return ("usage" if raw["type"] == MESSAGE_COMPLETED else "failure"), wire


def _validated_organization(kind: Kind, wire: Mapping[str, Any]) -> str:
    """Validate with the rules the workers apply (so a published event is charged, not parked as
    malformed); the event's organization."""
    if kind == "usage":
        return parse_usage_event(wire).organization_id
    return parse_failure(wire).organization_id


def _refuse_nul(value: Any, path: str = "") -> None:
    """PostgreSQL text cannot hold NUL: an event holding one anywhere is refused, naming where."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(path or "event", "must not contain the NUL character")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                raise InvalidInput(path or "event", "field names must not contain the NUL character")
            _refuse_nul(item, name)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _refuse_nul(item, f"{path}[{position}]")


def _field_as_sent(name: str, cloudevents: bool) -> str:
    """A wire field's name as the caller wrote it (a CloudEvent's data fields sit under `data.`)."""
    if not cloudevents or name.startswith("data.") or name in ("specversion", "id", "source", "type"):
        return name
    if name in ("datacontenttype", "data", "time", "subject", "event"):
        return name
    return {"event_id": "id", "occurred_at": "time"}.get(name, f"data.{name}")


def _event_id_of(raw: object, cloudevents: bool) -> str | None:
    value = raw.get("id" if cloudevents else "event_id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) and "\x00" not in value else None
