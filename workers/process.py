"""A worker process, as `billing worker` runs it: the partitions it prefers at once, the others as
a standby, and `--processes N` as N such processes under one supervisor.

Each usage partition queue has a single active consumer: the first consumer registered. A process
subscribes to its preferred partitions at start and to every other partition only after
BILLING_STANDBY_DELAY seconds, so processes started together split the partitions as their
preferences say, and each one stands by for the others' partitions: when a process dies, the next
registered consumer of each of its partitions (a standby) takes over. Nothing moves back by itself
when the process returns; it stands by in turn (see docs/scaling.md).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from billing_core.settings import Settings
from telemetry.exposition import (
    Reading,
    aggregated,
    child_exited,
    serve_metrics,
    shared_metrics_directory,
)
from workers.boot import boot
from workers.dead_letters import DeadLetterSweeper
from workers.metrics import WorkerMetrics

log = logging.getLogger("billing.workers")


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process consumes."""

    kinds: tuple[str, ...]
    threads: int
    preferred: tuple[int, ...]  # usage partitions consumed at once

    def as_args(self) -> list[str]:
        return [
            "--threads",
            str(self.threads),
            "--queues",
            ",".join(self.kinds),
            "--prefer",
            ",".join(map(str, self.preferred)) or "none",
        ]


class ShutdownSignal:
    """Set by SIGTERM or SIGINT. The handler only sets a flag: a signal handler that took a lock
    (threading.Event.set) could interrupt the main thread inside the same lock and deadlock."""

    def __init__(self) -> None:
        self.received = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.received = True

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a signal (True) or the timeout (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.received:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def split(preferred: Sequence[int], processes: int) -> list[tuple[int, ...]]:
    """Deal the preferred partitions over the processes, round-robin."""
    return [tuple(preferred[i::processes]) for i in range(processes)]


def processes_running(count: Callable[[], int]) -> Reading:
    """`billing_worker_processes`: what `billing health worker` checks."""
    return Reading("billing_worker_processes", "Worker processes running under this endpoint.", count)


def run_worker(settings: Settings, plan: WorkerPlan, *, serve: bool = True) -> int:
    """Run one worker process until SIGTERM or SIGINT; returns its exit status. It serves its own
    metrics when `serve` (a supervised child does not: its supervisor serves them all)."""
    registry = CollectorRegistry()
    app = boot(settings, metrics=WorkerMetrics(registry))
    server = None
    if serve:
        registry.register(processes_running(lambda: 1))
        server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    others = [k for k in plan.kinds if k != "usage"]
    now = app.queues_of(others)
    standby: list[str] = []
    if "usage" in plan.kinds:
        now += app.queues_of(["usage"], plan.preferred)
        standby = [q for q in app.queues_of(["usage"]) if q not in now]
    app.start(plan.threads, now, later=standby)
    log.info(
        "consuming %s; standby for %d partition(s) in %.0f s",
        ", ".join(now),
        len(standby),
        settings.worker_standby_delay_s,
    )
    stop = ShutdownSignal()
    sweeper = DeadLetterSweeper(app.runtime, now + standby, settings.dead_letter_interval_s)
    sweeper.start()
    dispatcher = app.notification_dispatcher() if "notifications" in plan.kinds else None
    if standby and not stop.wait(settings.worker_standby_delay_s):
        app.declare(standby)
    stop.wait()
    sweeper.stop()
    if dispatcher is not None:
        dispatcher.stop()
    app.stop()
    if server is not None:
        server.stop()
    return 0


def supervise(settings: Settings, plans: Sequence[WorkerPlan], command: Sequence[str]) -> int:
    """Run one child process per plan (`command` + the plan's arguments); restart a child that
    dies unexpectedly; on SIGTERM or SIGINT stop them all and return. The children write their
    metrics to a directory made here, and this process serves their sum."""
    stopping = ShutdownSignal()
    with shared_metrics_directory() as metrics_dir:

        def spawn(plan: WorkerPlan) -> subprocess.Popen[bytes]:
            return subprocess.Popen([*command, *plan.as_args()])

        children = [spawn(plan) for plan in plans]
        running = processes_running(lambda: sum(child.poll() is None for child in children))
        server = serve_metrics(aggregated(metrics_dir, running), settings.metrics_host, settings.metrics_port)
        while not stopping.wait(0.5):
            for i, child in enumerate(children):
                if child.poll() is not None:
                    log.warning(
                        "worker process %d exited with %s; starting it again", child.pid, child.returncode
                    )
                    child_exited(child.pid, metrics_dir)
                    time.sleep(1.0)
                    children[i] = spawn(plans[i])
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait()
        if server is not None:
            server.stop()
    return 0


def child_command() -> list[str]:
    return [sys.executable, "-m", "workers"]
