"""One boot for every process that runs work: `billing worker` processes and the embedded `billing up`.

`boot(settings)` builds the broker, the runtime (engine made lazily, after fork) and the actors;
`WorkerApp.start` runs Dramatiq worker threads on the queues chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq import Message, Worker
from dramatiq.middleware import CurrentMessage
from sqlalchemy import Engine

from billing_core.settings import Settings
from producers import routing, wire
from workers.actors import Actors, declare_actors
from workers.broker import KINDS, build_broker, queue, usage_queue, usage_queues
from workers.dead_letters import ParkOnNack
from workers.metrics import WorkerMetrics
from workers.notifications import NotificationDispatcher
from workers.poison import PoisonMessageGuard
from workers.runtime import WorkerRuntime


@dataclass
class WorkerApp:
    settings: Settings
    broker: dramatiq.Broker
    runtime: WorkerRuntime
    actors: Actors
    worker: Worker | None = field(default=None)

    def queues_of(self, kinds: Iterable[str], partitions: Iterable[int] | None = None) -> list[str]:
        """The queue names of these kinds of work (usage: the given partitions, default all)."""
        names: list[str] = []
        for kind in kinds:
            names += (
                usage_queues(self.settings, partitions) if kind == "usage" else [queue(self.settings, kind)]
            )
        return names

    def declare(self, queue_names: Iterable[str]) -> None:
        """Declare queues on the broker; a running worker starts consuming each at once."""
        for name in queue_names:
            self.broker.declare_queue(name)

    def start(self, threads: int, consume: Sequence[str], *, later: Sequence[str] = ()) -> Worker:
        """Worker threads consuming `consume` now; the queues in `later` are consumed from the
        moment they are declared (`declare`), which is how a standby subscribes after a delay."""
        self.declare(consume)
        self.worker = Worker(self.broker, queues={*consume, *later}, worker_threads=threads)
        self.worker.start()
        return self.worker

    def send_usage(self, events: Sequence[dict[str, Any]]) -> None:
        """Enqueue wire events as the Publisher does: one message per partition they fall in."""
        by_partition: dict[int, list[dict[str, Any]]] = {}
        for event in events:
            org = event.get("organization_id") if isinstance(event, dict) else None
            partition = routing.partition_of(
                org if isinstance(org, str) else "", self.settings.usage_partitions
            )
            by_partition.setdefault(partition, []).append(event)
        for partition, part in sorted(by_partition.items()):
            name = usage_queue(self.settings, partition)
            self.broker.enqueue(
                Message(queue_name=name, actor_name=wire.USAGE_ACTOR, args=(part,), kwargs={}, options={})
            )

    def notification_dispatcher(self) -> NotificationDispatcher:
        """Started: hands due notification deliveries to this broker's notifications queue."""
        dispatcher = NotificationDispatcher(
            lambda: self.runtime.engine,
            self.actors.deliver_notification.send,
            self.settings.notification_dispatch_interval_s,
        )
        dispatcher.start()
        return dispatcher

    def drain(self, queue_names: Iterable[str]) -> None:
        """In-process broker only: wait until these queues are empty and every message is done."""
        for name in queue_names:
            self.broker.join(name)
        if self.worker is not None:
            self.worker.join()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.broker.close()


def boot(
    settings: Settings, *, engine: Engine | None = None, metrics: WorkerMetrics | None = None
) -> WorkerApp:
    """The broker, runtime and actors of one process (counting into `metrics`, by default a
    registry of their own). A classic queue counts crash redeliveries in
    Postgres (PoisonMessageGuard); a quorum queue's own delivery limit does that instead. What
    Dramatiq gives up on is parked before it is dead-lettered (ParkOnNack)."""
    broker = build_broker(settings)
    runtime = WorkerRuntime(settings, engine=engine, metrics=metrics)
    broker.add_middleware(CurrentMessage())  # the actor reads its message's publish time (usage lag)
    if settings.broker_queue_type == "classic":
        broker.add_middleware(PoisonMessageGuard(runtime, limit=settings.poison_redeliveries))
    broker.add_middleware(ParkOnNack(runtime))
    actors = declare_actors(broker, runtime)
    dramatiq.set_broker(broker)
    return WorkerApp(settings, broker, runtime, actors)


__all__ = ["KINDS", "WorkerApp", "boot"]
