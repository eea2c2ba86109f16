"""Fault injection points, for the chaos scenarios (chaos/, `billing chaos`, tests/faults/).

`fault_point("usage:after_commit_before_ack")` does nothing unless BILLING_FAULT names that point
when the process starts. Then, on the point's BILLING_FAULT_AFTER-th hit (default 1), the process
does what BILLING_FAULT_ACTION says: `kill` (SIGKILL itself, the default: a crash exactly between
two steps) or `sleep:SECONDS` (a stall there). Off, a call is one lookup in an empty frozenset.
"""

from __future__ import annotations

import os
import signal
import threading
import time

ARMED = frozenset(p for p in os.environ.get("BILLING_FAULT", "").split(",") if p)
_ACTION = os.environ.get("BILLING_FAULT_ACTION", "kill")
_AFTER = int(os.environ.get("BILLING_FAULT_AFTER", "1") or 1)
_hits: dict[str, int] = {}
_lock = threading.Lock()


def fault_point(name: str) -> None:
    if name not in ARMED:
        return
    with _lock:
        _hits[name] = hits = _hits.get(name, 0) + 1
    if hits < _AFTER:
        return
    if _ACTION.startswith("sleep:"):
        time.sleep(float(_ACTION.split(":", 1)[1]))
    else:
        os.kill(os.getpid(), signal.SIGKILL)
