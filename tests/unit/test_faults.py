"""billing_core/faults.py: a fault point is inert unless BILLING_FAULT names it at process start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from billing_core.faults import ARMED, fault_point


def test_an_unarmed_point_does_nothing():
    assert "usage:after_commit_before_ack" not in ARMED
    fault_point("usage:after_commit_before_ack")


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from billing_core.faults import fault_point\nfor i in range(3):\n    print(i, flush=True)\n"
        "    fault_point('x:y')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_an_armed_point_kills_its_process_on_the_nth_hit():
    result = _run({"BILLING_FAULT": "x:y", "BILLING_FAULT_AFTER": "2"})
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.split() == ["0", "1"]


def test_a_sleep_action_stalls_and_goes_on():
    result = _run({"BILLING_FAULT": "x:y", "BILLING_FAULT_ACTION": "sleep:0.01"})
    assert result.returncode == 0 and result.stdout.split() == ["0", "1", "2"]
