"""Running workers inside the current process: the embedded run and the demo use this."""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
from dramatiq import Worker
from sqlalchemy import Engine

from billing_core.settings import Settings
from workers.actors import Actors, declare_actors
from workers.broker import QUEUES, build_broker, queue
from workers.poison import PoisonMessageGuard
from workers.runtime import WorkerRuntime


@dataclass
class InProcessWorkers:
    broker: dramatiq.Broker
    runtime: WorkerRuntime
    actors: Actors
    worker: Worker

    def stop(self) -> None:
        self.worker.stop()
        self.broker.close()


def start_workers(settings: Settings, engine: Engine, *, threads: int = 4) -> InProcessWorkers:
    """The same broker, middleware and actors as `billing worker`, on threads of this process."""
    broker = build_broker(settings)
    runtime = WorkerRuntime(settings, engine=engine)
    broker.add_middleware(PoisonMessageGuard(runtime, limit=settings.poison_redeliveries))
    actors = declare_actors(broker, runtime)
    for name in QUEUES:
        broker.declare_queue(queue(settings, name))
    worker = Worker(broker, worker_threads=threads)
    worker.start()
    return InProcessWorkers(broker, runtime, actors, worker)
