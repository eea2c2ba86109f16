"""Running workers inside the current process: the embedded run and the demo use this."""

from __future__ import annotations

from sqlalchemy import Engine

from billing_core.settings import Settings
from workers.boot import KINDS, WorkerApp, boot
from workers.metrics import WorkerMetrics


def start_workers(
    settings: Settings, engine: Engine, *, threads: int = 4, metrics: WorkerMetrics | None = None
) -> WorkerApp:
    """The same broker, middleware and actors as `billing worker`, on threads of this process,
    consuming every queue (one process: no standby)."""
    app = boot(settings, engine=engine, metrics=metrics)
    app.start(threads, app.queues_of(KINDS))
    return app
