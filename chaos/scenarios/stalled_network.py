"""Scenario 4: the network between the worker and PostgreSQL stalls (every packet dropped, as in
a partition) in the middle of a stream, then comes back. The worker's statements must fail within
BILLING_DATABASE_TIMEOUT rather than hang, and the worker must charge everything once the path
returns. (Scenario publisher-stall stalls the path between a publisher and RabbitMQ.)"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from sqlalchemy import make_url

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.proxy import TcpProxy
from chaos.scenarios.common import charged_distinct, start_worker, wait_charged
from chaos.stage import Services, scratch_stage, wait_until
from chaos.stream import StreamPublisher, create_orgs, usage_events

NAME = "stalled-network"
TIMEOUT_S = 5  # BILLING_DATABASE_TIMEOUT of the worker here (default 15)
TIMED_OUT = re.compile(r"timed out|timeout expired|Connection reset|server closed the connection", re.I)


def timeouts_logged(log_tail: Callable[[int], str], grace_s: float = 3.0) -> int:
    """The connection timeouts the worker logged, waiting a moment for one raised as the stall
    ended to reach its log (once the path is back, a statement that hung would simply succeed:
    only a client-side bound makes one fail)."""
    deadline = time.monotonic() + grace_s
    while True:
        found = len(TIMED_OUT.findall(log_tail(10**7)))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def run(services: Services, events: int) -> Outcome:
    proxy = TcpProxy(services.postgres.port)
    try:
        with scratch_stage(services, NAME, {"BILLING_DATABASE_TIMEOUT": str(TIMEOUT_S)}) as stage:
            orgs = create_orgs(stage, 50)
            run_id = f"sn{time.time_ns():x}"
            events = max(300, events)  # enough that messages keep arriving through the stall
            stream = usage_events(run_id, events, orgs)
            # Only the worker goes through the proxy: the scenario's own queries take the direct path.
            stage.env["DATABASE_URL"] = (
                make_url(stage.database_url).set(port=proxy.port).render_as_string(hide_password=False)
            )
            worker = start_worker(stage)
            # Three bounds long at the CI size: on a loaded machine the first statement sent into the
            # stall may come seconds after it began, and must still time out before the path returns.
            stall_s = 20.0 if events >= 1000 else 3.0 * TIMEOUT_S
            publisher = StreamPublisher(stage, stream, rate=len(stream) / (stall_s + 10), chunk=10)
            publisher.start()
            wait_until(
                lambda: charged_distinct(stage, run_id) >= events // 5, 120, "charges before the stall"
            )
            proxy.stall()
            time.sleep(stall_s)  # the stall itself is the fault
            proxy.resume()
            during = timeouts_logged(worker.log_tail)
            resumed = time.monotonic()
            publisher.finish()
            wait_charged(stage, run_id, events)
            row = outcome(
                stage,
                NAME,
                [e.event_id for e in stream],
                ledger_counts(stage, "usage"),
                time.monotonic() - resumed,
                detail=f"{stall_s:.0f} s stall of the worker's PostgreSQL path; {during} connection "
                f"timeouts logged by the worker during it",
            )
            if during == 0:
                row.problem = "the worker's statements hung through the stall: no timeout during it"
            return row
    finally:
        proxy.close()
