"""The log line formats: one event per line, with the request id and the ids passed in `extra`."""

from __future__ import annotations

import json
import logging

import pytest

from telemetry.logs import REQUEST_ID, JsonFormatter, TextFormatter, configure_logging


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("billing.workers", logging.WARNING, __file__, 1, "rejected: %s", ("x",), None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_a_json_line_holds_the_event_its_ids_and_the_request_being_served():
    token = REQUEST_ID.set("req-1")
    try:
        line = json.loads(JsonFormatter("worker").format(_record(event_id="e-1", organization_id="acme")))
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "rejected: x" and line["level"] == "WARNING"
    assert (line["process"], line["logger"]) == ("worker", "billing.workers")
    assert (line["event_id"], line["organization_id"], line["request_id"]) == ("e-1", "acme", "req-1")
    assert line["ts"].endswith("+00:00") and isinstance(line["pid"], int)


def test_outside_a_request_there_is_no_request_id_and_a_text_line_ends_with_the_ids():
    assert "request_id" not in json.loads(JsonFormatter("api").format(_record()))
    text = TextFormatter("worker").format(_record(event_id="e-1"))
    assert "worker[" in text and "rejected: x" in text and text.endswith("[event_id=e-1]")


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging("worker", "xml")
