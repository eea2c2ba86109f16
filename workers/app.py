"""Boot module of a worker process (`dramatiq workers.app`, started by `billing worker`).

Dramatiq imports this module in every worker process: it is the entrypoint, so it reads the
settings and builds the broker and actors here. The database engine is created lazily, after fork.
"""

from __future__ import annotations

import logging

import dramatiq

from billing_core.settings import load_settings
from workers.actors import declare_actors
from workers.broker import QUEUES, build_broker, queue
from workers.poison import PoisonMessageGuard
from workers.runtime import WorkerRuntime

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
settings = load_settings()
broker = build_broker(settings)
runtime = WorkerRuntime(settings)
broker.add_middleware(PoisonMessageGuard(runtime, limit=settings.poison_redeliveries))
actors = declare_actors(broker, runtime)
for name in QUEUES:
    broker.declare_queue(queue(settings, name))
dramatiq.set_broker(broker)
