"""`billing api`: serve the HTTP API with waitress (a production WSGI server)."""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from waitress.server import create_server

from api.app import create_app
from billing_cli.context import CommandContext
from billing_core.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    api = sub.add_parser("api", help="serve the HTTP API (balance, history, usage, admin) with waitress")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--threads", type=int, default=8, help="waitress worker threads")
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
) -> ApiServer:
    """Serve the API in this process on a daemon thread; `port=0` picks a free port. Call `.stop()`."""
    return start_server(create_app(settings, engine), host=host, port=port, threads=threads)


def start_server(app: Any, *, host: str, port: int, threads: int = 4) -> ApiServer:
    """Serve any WSGI app with waitress on a daemon thread."""
    server = create_server(app, host=host, port=port, threads=threads)
    bound_port = int(server.effective_port)
    thread = threading.Thread(target=server.run, name="billing-api", daemon=True)
    thread.start()
    return ApiServer(host, bound_port, server, thread)


def api_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    server = create_server(
        create_app(ctx.settings, ctx.engine), host=args.host, port=args.port, threads=args.threads
    )
    print(f"API on http://{args.host}:{server.effective_port} (docs at /docs); Ctrl-C to stop", flush=True)
    return serve_until_interrupted(server)


def serve_until_interrupted(server: Any) -> int:
    """Run a waitress server in the foreground until Ctrl-C; the exit status of the command."""
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
