"""Dramatiq's wire format, produced without Dramatiq: compact JSON a Dramatiq worker decodes as if
the message had been sent with `actor.send`. Unknown top-level keys would dead-letter the message,
so nothing else is added at the top level."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

USAGE_ACTOR = "debit_usage"
REFUNDS_QUEUE = "refunds"
REFUND_ACTOR = "refund_failed_interactions"


def queue_name(prefix: str, queue: str) -> str:
    return f"{prefix}{queue}"


def encode(
    queue: str, actor: str, events: Sequence[dict[str, Any]], *, message_id: str | None = None
) -> bytes:
    """One Dramatiq message whose single argument is the list of events."""
    message = {
        "queue_name": queue,
        "actor_name": actor,
        "args": [list(events)],
        "kwargs": {},
        "options": {},
        "message_id": message_id or str(uuid.uuid4()),
        "message_timestamp": int(time.time() * 1000),
    }
    return json.dumps(message, separators=(",", ":")).encode()
