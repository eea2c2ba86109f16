"""`billing api`: serve the HTTP API with waitress (a production WSGI server)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from waitress.server import create_server

from api.app import create_app
from api.metrics import ApiMetrics
from billing_cli.context import CommandContext
from billing_core.settings import Settings
from telemetry.exposition import aggregated, child_exited, serve_metrics, shared_metrics_directory
from workers.process import ShutdownSignal


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    api = sub.add_parser("api", help="serve the HTTP API (balance, history, usage, admin) with waitress")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--threads", type=int, default=4, help="waitress worker threads per process")
    api.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="server processes sharing the port (SO_REUSEPORT); default one per core",
    )
    api.set_defaults(run=api_cmd)


@dataclass
class ApiServer:
    """A waitress server running the API on a background thread (for `billing up`)."""

    host: str
    port: int
    _server: object
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.close()  # type: ignore[attr-defined]
        self._thread.join(timeout=10)


def start_api_server(
    settings: Settings,
    engine: Engine | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 4,
    metrics: ApiMetrics | None = None,
) -> ApiServer:
    """Serve the API in this process on a daemon thread; `port=0` picks a free port. Call `.stop()`."""
    return start_server(create_app(settings, engine, metrics=metrics), host=host, port=port, threads=threads)


def start_server(app: Any, *, host: str, port: int, threads: int = 4) -> ApiServer:
    """Serve any WSGI app with waitress on a daemon thread."""
    server = create_server(app, host=host, port=port, threads=threads)
    bound_port = int(server.effective_port)
    thread = threading.Thread(target=server.run, name="billing-api", daemon=True)
    thread.start()
    return ApiServer(host, bound_port, server, thread)


def api_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    if args.processes < 1 or args.threads < 1:
        print("error: --processes and --threads must be at least 1", file=sys.stderr)
        return 2
    settings = ctx.settings
    if args.processes == 1:
        metrics = ApiMetrics()
        server = create_server(
            create_app(settings, ctx.engine, metrics=metrics),
            host=args.host,
            port=args.port,
            threads=args.threads,
        )
        print(
            f"API on http://{args.host}:{server.effective_port} (docs at /docs); Ctrl-C to stop", flush=True
        )
        metrics_server = serve_metrics(metrics.registry, settings.metrics_host, settings.metrics_port)
        try:
            return serve_until_interrupted(server)
        finally:
            if metrics_server is not None:
                metrics_server.stop()
    with shared_metrics_directory() as metrics_dir:
        return serve_processes(settings, args.host, args.port, args.processes, args.threads, metrics_dir)


def calm_garbage_collector() -> None:
    """Keep Python's cyclic GC off the request tail: the objects made at start (the app, its
    routes and schemas, SQLAlchemy's caches) are frozen out of every later collection, and young
    collections run less often. A full collection of an unfrozen app took tens of milliseconds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_processes(
    settings: Settings, host: str, port: int, processes: int, threads: int, metrics_dir: str
) -> int:
    """N server processes, each with its own listening socket on the same port (SO_REUSEPORT): the
    kernel spreads connections over them. The parent only holds the port (bound, never listening,
    so no connection waits on it), restarts a process that dies, stops them all on SIGTERM, and
    serves the sum of their metrics (which they write to `metrics_dir`)."""
    reserved = _reuse_port_socket(host, port)
    port = int(reserved.getsockname()[1])

    def spawn() -> int:
        pid = os.fork()
        if pid:
            return pid
        try:  # the child: its own engine, app and listening socket, after the fork
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            listener = _reuse_port_socket(host, port)
            listener.listen(1024)
            server = create_server(create_app(settings), sockets=[listener], threads=threads)
            calm_garbage_collector()
            serve_until_interrupted(server)
        finally:
            os._exit(0)

    children = [spawn() for _ in range(processes)]
    print(
        f"API on http://{host}:{port} with {processes} processes (docs at /docs); Ctrl-C to stop", flush=True
    )
    metrics_server = serve_metrics(aggregated(metrics_dir), settings.metrics_host, settings.metrics_port)
    stop = ShutdownSignal()
    while not stop.wait(0.5):
        for i, pid in enumerate(children):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                child_exited(pid, metrics_dir)
                children[i] = spawn()
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    for pid in children:
        os.waitpid(pid, 0)
    if metrics_server is not None:
        metrics_server.stop()
    reserved.close()
    return 0


def serve_until_interrupted(server: Any) -> int:
    """Run a waitress server in the foreground until Ctrl-C; the exit status of the command."""
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
