"""A small in-memory token bucket per API token. It limits each process on its own: with N
processes (or waitress behind several replicas) a token may make N times the configured rate."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


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

    def acquire(self, token: str) -> float:
        """Take one request from the token's bucket: 0 if allowed, else seconds until it would be."""
        key = hashlib.sha256(token.encode()).hexdigest()  # raw tokens are never kept in memory
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._remember(key, tokens - 1, now)
                return 0.0
            self._remember(key, tokens, now)
            return (1 - tokens) / self.rate

    def _remember(self, key: str, tokens: float, at: float) -> None:
        self._buckets[key] = (tokens, at)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)  # the least recently seen key: a fresh bucket next time
