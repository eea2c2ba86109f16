"""Serving Prometheus metrics on a side port (`BILLING_METRICS_PORT`), never on a public route.

A process that runs children (the worker supervisor, `billing api --processes N`) uses
prometheus_client's multiprocess mode: `shared_metrics_directory()` makes a fresh directory before
the children start, every metric made after it (in the children, spawned or forked) writes its
values to a file of that directory per process, and the parent serves their sum
(`aggregated(path)`). A child that exits leaves its counters in place, so totals never go back.
The parent itself makes no metric objects, only scrape-time collectors (`Reading`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, multiprocess, start_http_server, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("billing.metrics")


@contextmanager
def shared_metrics_directory() -> Iterator[str]:
    """A fresh directory where this process's children keep their metric values; removed at exit."""
    path = tempfile.mkdtemp(prefix="billing-metrics-")
    os.environ[MULTIPROCESS_ENV] = path  # spawned children read it when they import prometheus_client
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # forked children
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def aggregated(path: str, *collectors: Collector) -> CollectorRegistry:
    """A registry that sums the children's values in `path` at each scrape, plus `collectors`."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    return registry


def child_exited(pid: int, path: str) -> None:
    """Forget a dead child's live gauges (its counters and histograms stay in the totals)."""
    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class Reading(Collector):
    """A gauge read at scrape time (e.g. how many worker processes run)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._documentation, self._read = name, documentation, read

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, value=self._read())


@dataclass
class MetricsServer:
    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def serve_metrics(registry: Collector, host: str, port: int | None) -> MetricsServer | None:
    """Serve `registry` at http://host:port/metrics on a daemon thread (`port=0`: any free port;
    None: no server, metrics are not configured)."""
    if port is None:
        return None
    server, thread = start_http_server(port, addr=host, registry=registry)
    served = MetricsServer(host, int(server.server_port), server, thread)
    log.info("metrics on http://%s:%d/metrics", host, served.port)
    return served
