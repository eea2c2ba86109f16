"""Private PostgreSQL and RabbitMQ instances that a chaos run owns, so that it may restart them,
stop them and end their connections without touching the shared services others test against.

PostgreSQL: a cluster made with `initdb` in a temporary directory (the binaries of `pg_config
--bindir`, else /usr/lib/postgresql/*/bin), run as the `postgres` user (it refuses root) with
`pg_ctl` on a free port. RabbitMQ: a node of its own name, ports and directories, started with the
installed `rabbitmq-server` as the `rabbitmq` user and driven with `rabbitmqctl -n NODE`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pika
import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _owned_temp_dir(user: str, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _as_user(user: str, argv: list[str]) -> list[str]:
    """Run `argv` as `user` when we are root (the servers refuse or misbehave as root)."""
    return ["runuser", "-u", user, "--", *argv] if os.geteuid() == 0 else argv


def postgres_bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): install postgresql")
    return Path(candidates[-1]).parent


class PrivatePostgres:
    """A throwaway cluster on 127.0.0.1:`port`, trust authentication, user `postgres`."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.root = _owned_temp_dir("postgres", "chaos-pg-")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        result = subprocess.run(
            _as_user("postgres", [str(self.bindir / argv[0]), *argv[1:]]),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o", self._options(), "start"
        )
        self.wait_ready()

    def _options(self) -> str:
        # fsync off: a scratch cluster's durability across an OS crash is not what is being tested.
        # idle_in_transaction_session_timeout as docs/operations.md recommends for production: the
        # session of a client cut off mid-transaction (stalled-network) must not keep its locks for hours.
        settings = "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        return f"-p {self.port} {settings} -c idle_in_transaction_session_timeout=30s -k {self.root}"

    def restart(self) -> None:
        """A fast restart: every session is ended, in-flight transactions roll back."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-m",
            "fast",
            "-o",
            self._options(),
            "restart",
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRabbit:
    """A RabbitMQ node of its own (`chaos-<random>@localhost`) on a free AMQP port."""

    def __init__(self) -> None:
        self.node = f"chaos-{uuid.uuid4().hex[:8]}@localhost"
        self.root = _owned_temp_dir("rabbitmq", "chaos-rmq-")
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        (self.root / "enabled_plugins").write_text("[].\n")
        # Our own config file, so that the system one's listener (the shared broker's port) is not used.
        (self.root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        if os.geteuid() == 0:
            entry = pwd.getpwnam("rabbitmq")
            for path in self.root.iterdir():
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.env = {
            **os.environ,
            "HOME": "/var/lib/rabbitmq",  # the Erlang cookie rabbitmqctl (as root) also uses
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "pid"),
        }

    def start(self, timeout: float = 90) -> None:
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not Path(server).exists():
            server = shutil.which("rabbitmq-server") or "rabbitmq-server"
        subprocess.run(
            _as_user("rabbitmq", [server, "-detached"]),
            env=self.env,
            cwd="/var/lib/rabbitmq" if Path("/var/lib/rabbitmq").is_dir() else None,
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90) -> None:
        """Until a client can connect (the node boots for several seconds after -detached returns)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1")).close()
                return
            except pika.exceptions.AMQPError as error:
                if time.monotonic() > deadline:
                    log = self.root / "log" / f"{self.node}.log"
                    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
                    raise TimeoutError(
                        f"RabbitMQ node {self.node} not ready after {timeout} s: {error}\n{tail}"
                    ) from error
                time.sleep(0.3)

    def ctl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result.stdout

    def restart(self) -> None:
        """Stop the whole node (not only the app: every connection and channel ends), start it again."""
        self.ctl("stop")
        self.start()

    def queue_counts(self, prefix: str) -> dict[str, tuple[int, int]]:
        """(ready, unacknowledged) of each queue whose name starts with `prefix`."""
        counts = {}
        for line in self.ctl(
            "list_queues", "-q", "name", "messages_ready", "messages_unacknowledged"
        ).splitlines():
            fields = line.split("\t")
            if len(fields) == 3 and fields[0].startswith(prefix) and fields[1].isdigit():
                counts[fields[0]] = (int(fields[1]), int(fields[2]))
        return counts

    def stop(self) -> None:
        try:
            self.ctl("stop", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
