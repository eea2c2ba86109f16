"""`POST /v1/events`: a batch of usage events and failure reports over HTTP, plain JSON or
CloudEvents 1.0 (billing_core/usage/batch.py), up to 1,000 events and 1 MB (gzip accepted).

The answer comes only once the events are durable. With a broker, they are published with
confirms through the same routing as the AMQP Publisher (the process's EventPublisher), then 202:
the workers charge them. Without one (`billing up`), they are charged in the request by the
workers' usage use case, group-committed with the other requests in flight, then 200 with each
event's outcome and cost. Invalid events, and events of organizations the caller may not
report, are refused one by one; the others go on. Resending a batch charges nothing twice."""

from __future__ import annotations

import logging
import zlib
from typing import Any

from apiflask import APIBlueprint
from flask import g, request

from api.auth import Principal, ingest_access
from api.errors import api_error
from api.runtime import runtime
from api.schemas_ingest import IngestOut
from billing_core.access import roles
from billing_core.money import micros_to_text
from billing_core.usage.batch import (
    MAX_EVENTS,
    Accepted,
    DecodedBatch,
    body_may_hold_nul,
    decode_batch,
    events_of_body,
)
from billing_core.usage.charging import Outcome, failure_outcomes, usage_outcomes

log = logging.getLogger("billing.api")
bp = APIBlueprint("ingest", __name__, url_prefix="/v1", tag="Events")
PATH = "/v1/events"
MAX_DECODED_BYTES = 1024 * 1024
PUBLISH_TIMEOUT_S = 20.0
# Media type -> (CloudEvents?, one event?)
MEDIA_TYPES = {
    "application/json": (False, False),
    "application/cloudevents-batch+json": (True, False),
    "application/cloudevents+json": (True, True),
}
_EVENT = {"type": "object", "description": "a wire event (docs/events.md), or a CloudEvent 1.0"}
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "array", "items": _EVENT, "maxItems": MAX_EVENTS},
                    {"type": "object", "required": ["events"], "properties": {"events": {"type": "array"}}},
                ]
            }
        },
        "application/cloudevents-batch+json": {"schema": {"type": "array", "items": _EVENT}},
        "application/cloudevents+json": {"schema": _EVENT},
    },
}


def _body() -> bytes:
    """The request body, gunzipped if it says so; 413 past 1 MB either way."""
    data = request.get_data(cache=False)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        decoded = data
    elif encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            decoded = inflater.decompress(data, MAX_DECODED_BYTES + 1)
        except zlib.error:
            raise api_error(400, "validation_error", "the body is not valid gzip", field="body") from None
        if not inflater.eof and len(decoded) <= MAX_DECODED_BYTES:
            raise api_error(400, "validation_error", "the gzip body is truncated", field="body")
    else:
        raise api_error(415, "unsupported_media_type", "Content-Encoding must be gzip or identity")
    if len(decoded) > MAX_DECODED_BYTES:
        raise api_error(413, "payload_too_large", "the batch is larger than 1 MB once decompressed")
    return decoded


def _refused(batch: DecodedBatch) -> list[dict[str, Any]]:
    return [vars(r) for r in batch.refused]


def _outcome(item: Accepted, outcome: Outcome | None) -> dict[str, Any]:
    found = outcome or Outcome("rejected", reason="internal_error", detail="no outcome recorded")
    cost = None if found.cost is None else micros_to_text(found.cost)
    return {"index": item.index, "event_id": item.event_id, "outcome": found.outcome, "cost": cost}


def _charge(batch: DecodedBatch) -> Any:
    """Embedded: charge in the request; 200 with each event's outcome."""
    result = runtime().charger.charge([a.wire for a in batch.usage], [a.wire for a in batch.failures])
    of_usage, of_failures = usage_outcomes(result.usage), failure_outcomes(result.failures)
    rejected, events, duplicates = _refused(batch), [], []
    for item in sorted(batch.usage + batch.failures, key=lambda a: a.index):
        key = item.event_id if item.kind == "usage" else str(item.wire["original_event_id"])
        outcome = (of_usage if item.kind == "usage" else of_failures).get(key)
        if outcome is not None and outcome.outcome == "rejected":
            field = "organization_id" if outcome.reason == "unknown_organization" else None
            error = f"{outcome.reason}: {outcome.detail}"
            rejected.append(
                {
                    "index": item.index,
                    "event_id": item.event_id,
                    "type": outcome.reason,
                    "field": field,
                    "error": error,
                }
            )
            continue
        events.append(_outcome(item, outcome))
        if outcome is not None and outcome.outcome == "duplicate":
            duplicates.append(item.event_id)
    rejected.sort(key=lambda r: r["index"])
    return {"accepted": len(events), "duplicates": duplicates, "rejected": rejected, "events": events}, 200


def _publish(batch: DecodedBatch) -> Any:
    """With a broker: publish with confirms; 202 once the broker has them all."""
    publisher = runtime().publisher
    if publisher is None:
        raise api_error(503, "ingest_unavailable", "this API process was started without a publisher")
    usage, failures = [a.wire for a in batch.usage], [a.wire for a in batch.failures]
    if usage or failures:
        try:
            publisher.publish_confirmed(usage, failures, timeout=PUBLISH_TIMEOUT_S)
        except Exception as error:  # whatever it was, the events are not known to be durable
            log.warning("publishing %d events failed: %s", len(usage) + len(failures), error)
            raise api_error(
                503,
                "broker_unavailable",
                "the broker did not confirm the events; send the batch again (nothing is charged twice)",
                headers={"Retry-After": "1"},
            ) from None
    accepted = len(usage) + len(failures)
    return {"accepted": accepted, "duplicates": None, "rejected": _refused(batch), "events": None}, 202


@bp.post("/events")
@ingest_access(roles.BILLING)
@bp.output(IngestOut, status_code=202)
@bp.doc(
    responses={
        413: "More than 1,000 events, or a body over 1 MB (also once gunzipped)",
        415: "Not application/json, application/cloudevents-batch+json or application/cloudevents+json",
        503: "The broker did not confirm the events (see Retry-After); nothing is lost by sending again",
    }
)
def ingest_events() -> Any:
    """Report a batch of usage events and failure reports (plain JSON or CloudEvents). 202: every
    accepted event is published, with confirms (with a broker); 200: every accepted event is
    charged, with its outcome and cost (embedded, without a broker). Refused events are listed
    in `rejected` with their index, event id and the field at fault; nothing is charged twice."""
    principal: Principal = g.principal
    media = MEDIA_TYPES.get(request.mimetype)
    if media is None:
        raise api_error(415, "unsupported_media_type", f"send one of: {', '.join(MEDIA_TYPES)}")
    cloudevents, single = media
    body = _body()
    raw_events = events_of_body(body, cloudevents=cloudevents, single=single)
    if len(raw_events) > MAX_EVENTS:
        raise api_error(413, "payload_too_large", f"at most {MAX_EVENTS} events per request")
    batch = decode_batch(
        raw_events,
        cloudevents=cloudevents,
        may_report=principal.may_ingest_for,
        may_hold_nul=body_may_hold_nul(body),
    )
    return _charge(batch) if runtime().settings.broker_url is None else _publish(batch)
