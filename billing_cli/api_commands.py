"""`billing api`: serve the HTTP API with waitress (a production WSGI server)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apiflask import APIFlask
from sqlalchemy import Engine
from waitress.server import create_server

from api.app import create_app
from api.metrics import ApiMetrics
from billing_cli.context import CommandContext
from billing_core.settings import Settings
from producers import Publisher
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


class BrokerPublisher:
    """The API's EventPublisher (billing_core/usage/publishing.py) when BROKER_URL is set: the
    producers' Publisher, connected at the first ingestion request (the API starts, and answers
    everything else, while the broker is down; ingestion answers 503 until it connects)."""

    def __init__(self, broker_url: str, settings: Settings) -> None:
        self._url = broker_url
        self._settings = settings
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None

    def publish_confirmed(
        self,
        usage: Sequence[Mapping[str, Any]],
        failures: Sequence[Mapping[str, Any]] = (),
        *,
        timeout: float = 30.0,
    ) -> None:
        with self._lock:
            if self._publisher is None:
                s = self._settings
                assert s.broker_url is not None
                self._publisher = Publisher(
                    s.broker_url,
                    queue_prefix=s.queue_prefix,
                    partitions=s.usage_partitions,
                    connect_timeout=5.0,
                )
            publisher = self._publisher
        publisher.publish_confirmed(usage, failures, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()


def build_app(
    settings: Settings, engine: Engine | None = None, metrics: ApiMetrics | None = None
) -> tuple[APIFlask, BrokerPublisher | None]:
    """The API app and, with a broker, the publisher its event ingestion uses (close it at exit)."""
    publisher = BrokerPublisher(settings.broker_url, settings) if settings.broker_url else None
    return create_app(settings, engine, publisher=publisher, metrics=metrics), publisher


@dataclass
class ApiServer:
    """A waitress server running the API on a background thread (for `billing up`)."""

    host: str
    port: int
    _server: object
    _thread: threading.Thread
    _stopping: threading.Event
    publisher: BrokerPublisher | None = field(default=None)

    def stop(self) -> None:
        self._stopping.set()
        self._server.close()  # type: ignore[attr-defined]
        self._thread.join(timeout=10)
        if self.publisher is not None:
            self.publisher.close()


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
    app, publisher = build_app(settings, engine, metrics)
    server = start_server(app, host=host, port=port, threads=threads)
    server.publisher = publisher
    return server


def start_server(app: Any, *, host: str, port: int, threads: int = 4) -> ApiServer:
    """Serve any WSGI app with waitress on a daemon thread."""
    server = create_server(app, host=host, port=port, threads=threads)
    bound_port = int(server.effective_port)
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:
            # stop() closes the sockets from another thread; the loop may then select on a
            # descriptor just closed (a client's connection not yet reaped). Anything else is real.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, name="billing-api", daemon=True)
    thread.start()
    return ApiServer(host, bound_port, server, thread, stopping)


def api_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    if args.processes < 1 or args.threads < 1:
        print("error: --processes and --threads must be at least 1", file=sys.stderr)
        return 2
    settings = ctx.settings
    if args.processes == 1:
        metrics = ApiMetrics()
        app, publisher = build_app(settings, ctx.engine, metrics)
        server = create_server(app, host=args.host, port=args.port, threads=args.threads)
        print(
            f"API on http://{args.host}:{server.effective_port} (docs at /docs); Ctrl-C to stop", flush=True
        )
        metrics_server = serve_metrics(metrics.registry, settings.metrics_host, settings.metrics_port)
        try:
            return serve_until_interrupted(server, publisher)
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
            app, publisher = build_app(settings)
            server = create_server(app, sockets=[listener], threads=threads)
            calm_garbage_collector()
            serve_until_interrupted(server, publisher)
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


def serve_until_interrupted(server: Any, publisher: BrokerPublisher | None = None) -> int:
    """Run a waitress server in the foreground until Ctrl-C; the exit status of the command."""
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if publisher is not None:
            publisher.close()
    return 0
