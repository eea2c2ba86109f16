"""Structured logs: one event per line on stderr, as JSON or text (`LOG_FORMAT=json|text`; unset:
text on a terminal, JSON otherwise).

Every line carries its time (UTC), level, process name, pid, logger and message, the request id of
the HTTP request being served (if any), and whatever ids the call passed in `extra=` (event_id,
organization_id, message_id, webhook_event_id, ...). Nothing else of a request is logged: no header,
body or query string, so no token, API key or signature reaches a log line.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FORMATS = ("json", "text")
# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    request_id = REQUEST_ID.get()
    if request_id is not None:
        fields.setdefault("request_id", request_id)
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str) -> None:
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": self.process_name,
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, process_name: str) -> None:
        super().__init__(f"%(asctime)s {process_name}[%(process)d] %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        return f"{text} [{extra}]" if extra else text


def configure_logging(process_name: str, log_format: str | None = None, level: int = logging.INFO) -> None:
    """Send every logger of this process (waitress's, Dramatiq's, ours) to stderr in one format."""
    chosen = log_format or ("text" if sys.stderr.isatty() else "json")
    if chosen not in FORMATS:
        raise ValueError(f"LOG_FORMAT: must be one of {', '.join(FORMATS)}, got {chosen!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_name) if chosen == "json" else TextFormatter(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pika").setLevel(logging.WARNING)  # its INFO lines narrate every connection
