"""Rate limits of the API and the console.

- `FailureLimiter`: failed authentications per client address (a wrong token, a dead console
  session), counted in PostgreSQL (`billing_core/access/auth_failures.py`) so that the limit holds
  across every API process. Once an address reaches the limit, the process that learned it refuses
  that address (429) until the window ends without any database work; another process learns it
  at its own next failure from that address, so an address gets at most one more failure per process.
- `RateLimiter`: a token bucket per authenticated identity (an API key, a service key, the admin,
  a console session's key), in memory: with N processes an identity may make N times the rate.
  It is keyed only after authentication, so presented strings never create buckets.
- `client_address`: the TCP peer, or with TRUSTED_PROXIES the first address of X-Forwarded-For,
  read from the right, that is not a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

from billing_core.access.auth_failures import FailureCount

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimiter:
    """`rate` requests per second per key, with bursts of up to `burst` requests."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, identity: str) -> float:
        """Take one request from the identity's bucket: 0 if allowed, else seconds until it would be."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(identity, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._remember(identity, tokens - 1, now)
                return 0.0
            self._remember(identity, tokens, now)
            return (1 - tokens) / self.rate

    def _remember(self, key: str, tokens: float, at: float) -> None:
        self._buckets[key] = (tokens, at)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)  # the least recently seen key: a fresh bucket next time


class FailureLimiter:
    """At most `limit` failed authentications per address and window (shared count); past it, 429
    until the window ends."""

    def __init__(self, limit: int, *, max_addresses: int = 10_000) -> None:
        self.limit = limit
        self._max = max_addresses
        self._blocked: OrderedDict[str, datetime] = OrderedDict()  # address -> blocked until
        self._lock = threading.Lock()

    def wait(self, address: str, now: datetime) -> float:
        """Seconds this address must wait (0: it may try), from what this process knows."""
        with self._lock:
            until = self._blocked.get(address)
            if until is None:
                return 0.0
            if until <= now:
                del self._blocked[address]
                return 0.0
            return (until - now).total_seconds()

    def failed(self, address: str, count: FailureCount) -> None:
        """Note one failure (already recorded in the shared count as `count`)."""
        if count.failures < self.limit:
            return
        with self._lock:
            self._blocked[address] = count.window_end
            self._blocked.move_to_end(address)
            while len(self._blocked) > self._max:
                self._blocked.popitem(last=False)  # forgotten: the shared count refuses it again


def parse_networks(text: str) -> tuple[Network, ...]:
    """TRUSTED_PROXIES: comma-separated addresses or networks (10.0.0.0/8, 192.0.2.7)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(remote_addr: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """Who the client is. Without trusted proxies, the TCP peer (X-Forwarded-For is ignored: anyone
    can send it). With them, and only when the peer is one, the rightmost X-Forwarded-For entry that
    is not a trusted proxy (the entries left of it were written by the client and prove nothing)."""
    peer = remote_addr or "unknown"
    if not proxies or not _trusted(peer, proxies) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:100]
    return hops[0][:100] if hops else peer
