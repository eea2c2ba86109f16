"""Start and kill `billing worker` as an operator would: a real process tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pika

BILLING = str(Path(sys.executable).parent / "billing")


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, *, threads: int = 4) -> None:
        self.env = env
        self.log_path = log_path
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # the child process keeps its own copy of the descriptor
        self.process = subprocess.Popen(
            [BILLING, "worker", "--processes", "1", "--threads", str(self.threads)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group: the Dramatiq main process and its worker process."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def queue_depth(broker_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()
