"""Creating the engine: the configured PostgreSQL, or an embedded one under the data directory."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine

from billing_core.settings import Settings


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgres URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def embedded_database_url(data_dir: str) -> str:
    """Start (or reuse) the embedded PostgreSQL server kept under `data_dir`/pgdata."""
    pgdata = Path(data_dir).resolve() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    runtime = pgdata.parent / "run"  # pgserver wants a private runtime dir; set it before the import
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # imported lazily: only the embedded default needs it

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its INFO lines narrate every start

    server = pgserver.get_server(str(pgdata), cleanup_mode=None)  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri


def stop_embedded_database(data_dir: str, timeout: float = 60.0) -> bool:
    """Stop the embedded PostgreSQL under `data_dir`/pgdata if it runs (a fast shutdown: open
    sessions are ended); returns whether it was running. PostgreSQL removes its pid file once stopped."""
    pid_file = Path(data_dir).resolve() / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGINT)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return False
    deadline = time.monotonic() + timeout
    while pid_file.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the embedded PostgreSQL (pid {pid}) did not stop within {timeout:.0f} s")
        time.sleep(0.1)
    return True


def database_url(settings: Settings) -> str:
    return normalize_url(settings.database_url or embedded_database_url(settings.data_dir))


def make_engine(settings: Settings, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """`pre_ping` tests each connection on checkout (a round trip); without it, a connection the
    server dropped fails its first statement, and run_in_transaction runs the work again on a new one."""
    return create_engine(
        database_url(settings),
        pool_size=pool_size,
        pool_pre_ping=pre_ping,
        connect_args=stalled_network_timeouts(settings.database_timeout_s),
    )


def stalled_network_timeouts(seconds: float) -> dict[str, int]:
    """libpq settings that make a connection whose path went silent fail within about `seconds`
    instead of hanging for ever: the connect, a write the server never acknowledges
    (tcp_user_timeout), and a wait for an answer on an idle socket (keepalive probes). The error
    is a dropped connection, which run_in_transaction retries on a new one. On the server's side,
    the session of a client that vanished mid-transaction keeps its row locks until the server's
    own keepalives notice (hours by default): docs/operations.md recommends
    idle_in_transaction_session_timeout. (Scenario stalled-network of `billing chaos`.)"""
    probe = max(1, int(seconds / 6))
    return {
        "connect_timeout": max(2, int(seconds)),
        "tcp_user_timeout": int(seconds * 1000),
        "keepalives": 1,
        "keepalives_idle": max(1, int(seconds / 2)),
        "keepalives_interval": probe,
        "keepalives_count": 3,
    }
