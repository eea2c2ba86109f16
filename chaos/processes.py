"""The real `billing` commands (worker, api, webhooks, scheduler) as processes a scenario starts,
SIGKILLs and starts again, each in its own process group, its output appended to a log file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BILLING = str(Path(sys.executable).parent / "billing")


class BillingProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, health_url: str | None = None):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.health_url = health_url
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self, extra_env: dict[str, str] | None = None, timeout: float = 60) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [BILLING, *self.args],
                env={**self.env, **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.health_url:
            self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.health_url or "", timeout=5):
                    return
            except OSError:
                if self.process is not None and self.process.poll() == -signal.SIGKILL:
                    return  # an armed fault point killed it while it started: what was asked for
                if not self.running:
                    raise RuntimeError(f"billing {self.args[0]} exited at start: {self.log_tail()}") from None
                time.sleep(0.1)
        raise TimeoutError(f"billing {self.args[0]} did not answer {self.health_url} within {timeout} s")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no handler runs, nothing is flushed or acknowledged."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.kills += 1

    def wait_exit(self, timeout: float) -> bool:
        """Whether the process exited (an armed fault point killed it) within `timeout` seconds."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"
