"""The rate limits of api/ratelimit.py applied to the current request: who the client is, refusing
an address with too many failed authentications before any database work, counting a failure,
and the per-identity bucket of an authenticated caller."""

from __future__ import annotations

import math

from apiflask import HTTPError
from flask import request

from api.errors import api_error
from api.ratelimit import client_address
from api.runtime import now, runtime, write
from billing_core.access.auth_failures import purge_failures, record_failure

_PURGE_EVERY = 1000  # failures recorded by a process between purges of old windows
_recorded = 0


def client() -> str:
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), runtime().proxies)


def too_many(wait: float, message: str) -> HTTPError:
    return api_error(429, "rate_limited", message, headers={"Retry-After": str(max(1, math.ceil(wait)))})


def address_wait() -> float:
    """Seconds the client's address must wait after too many failures (0: it may go on)."""
    return runtime().failures.wait(client(), now())


def refuse_blocked_address() -> None:
    wait = address_wait()
    if wait > 0:
        raise too_many(wait, "too many failed authentications from this address; retry later")


def count_failure() -> None:
    """One failed authentication of this client, in the count every process shares."""
    global _recorded
    address, at = client(), now()
    count = write(lambda c: record_failure(c, address, at))
    runtime().failures.failed(address, count)
    _recorded += 1
    if _recorded % _PURGE_EVERY == 0:
        write(lambda c: purge_failures(c, at))


def limit_identity(identity: str) -> None:
    """The per-credential bucket, keyed by who authenticated (never by a presented string)."""
    wait = runtime().limiter.acquire(identity)
    if wait > 0:
        raise too_many(wait, "too many requests for this credential; retry later")
