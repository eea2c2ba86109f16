"""The HTTP publishers' pure rules: when to retry, how long to wait, how a batch is split."""

from __future__ import annotations

import json

import pytest

from producers import EndpointUnavailable, EventsRejected, RequestRefused
from producers.http_transport import MAX_BODY_BYTES, Reply, RetryPolicy, encode

POLICY = RetryPolicy(max_retries=3, backoff_base=0.1, backoff_cap=1.0)


def test_a_2xx_is_done_and_a_2xx_listing_refused_events_raises_them():
    assert POLICY.after(0, Reply(202, {"accepted": 1, "rejected": []}, None), None) is None
    refused = [
        {"index": 0, "event_id": "e", "type": "validation_error", "field": "model", "error": "model: ..."}
    ]
    with pytest.raises(EventsRejected) as raised:
        POLICY.after(0, Reply(200, {"accepted": 0, "rejected": refused}, None), None)
    assert raised.value.rejected == refused


@pytest.mark.parametrize("status", [400, 401, 403, 413, 415])
def test_a_4xx_other_than_429_is_never_retried(status):
    with pytest.raises(RequestRefused) as raised:
        POLICY.after(0, Reply(status, {"error": {"type": "x", "message": "no"}}, None), None)
    assert raised.value.status == status


def test_5xx_429_and_connection_errors_back_off_exponentially_with_jitter_then_give_up():
    for attempt in range(3):
        for reply, error in ((Reply(503, None, None), None), (None, ConnectionRefusedError())):
            delay = POLICY.after(attempt, reply, error)
            assert delay is not None and 0 <= delay <= min(1.0, 0.1 * 2**attempt)
    assert POLICY.after(0, Reply(429, None, 3.0), None) == 3.0  # at least the server's Retry-After
    with pytest.raises(EndpointUnavailable):
        POLICY.after(3, Reply(500, None, None), None)


def test_a_batch_over_the_servers_megabyte_is_split_and_keeps_every_event():
    events = [{"event_id": f"e{i}", "pad": "x" * 2000} for i in range(1000)]
    bodies = encode(events)
    assert len(bodies) > 1 and all(len(body) <= MAX_BODY_BYTES for body, _ in bodies)
    assert [e for body, _ in bodies for e in json.loads(body)] == events
    assert sum(count for _, count in bodies) == 1000
