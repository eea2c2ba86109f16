"""What both HTTP publishers share: encoding a batch for `POST /v1/events` (plain JSON wire
events, gzip), one keep-alive connection (standard library http.client), and the retry policy:
exponential backoff with full jitter on connection errors, 5xx and 429 (at least its
Retry-After), never on a 4xx; a 2xx that lists refused events raises them."""

from __future__ import annotations

import gzip
import http.client
import json
import random
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from producers.errors import EndpointUnavailable, EventsRejected, RequestRefused

MAX_BODY_BYTES = 1024 * 1024  # the server's limit, once decompressed
MAX_BATCH = 1000  # the server's limit of events per request
GZIP_FROM_BYTES = 1024
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    retry_after: float | None


def encode(events: list[dict[str, Any]]) -> list[tuple[bytes, int]]:
    """The JSON bodies (and their event counts) of a batch, split in halves while one would be
    over the server's 1 MB."""
    body = json.dumps(events, separators=(",", ":")).encode()
    if len(body) <= MAX_BODY_BYTES or len(events) == 1:
        return [(body, len(events))]
    half = len(events) // 2
    return encode(events[:half]) + encode(events[half:])


class HttpTransport:
    """One keep-alive connection to the API at `url` (its base, e.g. http://127.0.0.1:8000);
    not thread-safe: each sender has its own."""

    def __init__(self, url: str, api_key: str, *, timeout: float, compress: bool) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: an http:// or https:// URL is required, got {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/") + "/v1/events"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._timeout = timeout
        self._compress = compress
        self._connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> Reply:
        """One request; connection errors propagate (the connection is then dropped)."""
        headers = dict(self._headers)
        if self._compress and len(body) >= GZIP_FROM_BYTES:
            body = gzip.compress(body, compresslevel=1)  # fast: most of the gain for little CPU
            headers["Content-Encoding"] = "gzip"
        connection = self._connection or self._connect()
        try:
            connection.request("POST", self._path, body, headers)
            response = connection.getresponse()
            data = response.read()
        except CONNECTION_ERRORS:
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        retry_after = response.getheader("Retry-After")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        return Reply(response.status, parsed, wait)

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            context = ssl.create_default_context()
            self._connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=context
            )
        else:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def transports(
    url: str, api_key: str, *, max_batch: int, concurrency: int, max_pending: int, timeout: float, gzip: bool
) -> list[HttpTransport]:
    """One connection per sending worker of an HTTP publisher, once its batching bounds are valid."""
    if not 1 <= max_batch <= MAX_BATCH:
        raise ValueError(f"max_batch: from 1 to {MAX_BATCH} (the server's limit per request)")
    if concurrency < 1 or max_pending < max_batch:
        raise ValueError("concurrency: at least 1; max_pending: at least max_batch")
    return [HttpTransport(url, api_key, timeout=timeout, compress=gzip) for _ in range(concurrency)]


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 10
    backoff_base: float = 0.1
    backoff_cap: float = 10.0

    def after(self, attempt: int, reply: Reply | None, error: BaseException | None) -> float | None:
        """After attempt number `attempt` (from 0): None when the request is done; else seconds to
        wait before the next. Raises what is final: EventsRejected, RequestRefused, or
        EndpointUnavailable once the retries are spent."""
        if reply is not None and 200 <= reply.status < 300:
            rejected = reply.body.get("rejected") if isinstance(reply.body, dict) else None
            if rejected:
                raise EventsRejected(list(rejected))
            return None
        if reply is not None and reply.status != 429 and reply.status < 500:
            raise RequestRefused(reply.status, _message(reply.body))
        if attempt >= self.max_retries:
            why = str(error) if error is not None else f"HTTP {reply.status if reply else '?'}"
            raise EndpointUnavailable(f"gave up after {attempt + 1} attempts: {why}")
        delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))  # full jitter
        retry_after = reply.retry_after if reply is not None else None
        return max(delay, retry_after or 0.0)


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))
    return "the request was refused"
