"""`billing` as an operator runs it: a command run to its end, `billing worker` started and killed
as a real process tree, and what the OS and the broker say about those processes (their sockets, the
consumers they hold)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BILLING = str(Path(sys.executable).parent / "billing")


def billing(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `billing ARGS` against the database at `url` and wait for it (by default: successfully)."""
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run([BILLING, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


class WorkerProcess:
    def __init__(
        self, env: dict[str, str], log_path: Path, *, threads: int = 4, args: tuple[str, ...] = ()
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.threads = threads
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # the child process keeps its own copy of the descriptor
        self.process = subprocess.Popen(
            [BILLING, "worker", "--processes", "1", "--threads", str(self.threads), *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker, and its children if it supervises some)."""
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


def rabbitmqctl_rows(*args: str) -> list[list[str]]:
    out = subprocess.run(
        ["rabbitmqctl", *args, "-q"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [line.split("\t") for line in out.splitlines()[1:] if line]


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets, read from /proc."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:  # the process is gone
        return set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def consumers_by_queue(prefix: str, workers: dict[str, int]) -> dict[str, list[tuple[str, bool]]]:
    """The broker's own consumer list: for each queue of `prefix`, (owner, active) per consumer,
    where owner is the name in `workers` (name -> OS pid) of the process the consumer belongs to."""
    port_owner = {port: name for name, pid in workers.items() for port in local_ports(pid)}
    connection_port = {
        pid: int(port) for pid, port in rabbitmqctl_rows("list_connections", "pid", "peer_port")
    }
    channel_connection = dict(rabbitmqctl_rows("list_channels", "pid", "connection"))
    found: dict[str, list[tuple[str, bool]]] = {}
    for queue, channel, active in rabbitmqctl_rows("list_consumers", "queue_name", "channel_pid", "active"):
        if queue.startswith(prefix):
            port = connection_port.get(channel_connection.get(channel, ""), -1)
            found.setdefault(queue, []).append((port_owner.get(port, "?"), active == "true"))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    """`billing api --processes 1` on a fixed port (so that a restart comes back where clients
    expect it), started and killed as a real process."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [BILLING, "api", "--processes", "1", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5):
                    return
            except OSError:
                assert self.process.poll() is None, self.log_path.read_text()
                time.sleep(0.1)
        raise AssertionError(f"billing api did not answer within {timeout} s: {self.log_path.read_text()}")

    def kill(self) -> None:
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
