"""Scenario 4, the publisher's side: the network between a publisher and RabbitMQ stalls (every
packet dropped, as in a partition) in the middle of a stream, then comes back. Only the publisher
goes through the proxy; the worker talks to the broker directly. The publisher's blocked calls
(a flush waiting for confirms, a publish waiting for room under back-pressure, a new connection)
must fail within their bound rather than hang, and once the path returns the stream is published
again (the unconfirmed part: duplicates, by event id) and every event is charged once."""

from __future__ import annotations

import time

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.proxy import TcpProxy
from chaos.scenarios.common import charged_distinct, start_worker, wait_charged
from chaos.stage import Services, scratch_stage, wait_until
from chaos.stream import StreamPublisher, create_orgs, usage_events

NAME = "publisher-stall"
BOUND_S = 5.0  # the publisher's flush timeout, block_timeout and connect_timeout here
HANG_FACTOR = 3  # a call that took longer than this many bounds to fail is a hang


def run(services: Services, events: int) -> Outcome:
    proxy = TcpProxy(services.rabbit.port)
    try:
        with scratch_stage(services, NAME) as stage:
            orgs = create_orgs(stage, 50)
            run_id = f"ps{time.time_ns():x}"
            events = max(300, events)  # enough that the publisher is mid-stream through the stall
            stream = usage_events(run_id, events, orgs)
            start_worker(stage)  # BROKER_URL: the direct path
            stall_s = 18.0 if events >= 1000 else 12.0
            publisher = StreamPublisher(
                stage,
                stream,
                rate=len(stream) / (stall_s + 10),
                chunk=10,
                url=stage.broker_url.replace(f":{services.rabbit.port}/", f":{proxy.port}/"),
                flush_every=5,
                flush_timeout=BOUND_S,
                # A small window, so that publish() meets back-pressure during the stall too.
                options={"connect_timeout": BOUND_S, "block_timeout": BOUND_S, "max_unconfirmed": 10},
            )
            publisher.start()
            wait_until(
                lambda: charged_distinct(stage, run_id) >= events // 5, 120, "charges before the stall"
            )
            proxy.stall()
            stalled = time.monotonic()
            time.sleep(stall_s)  # the stall itself is the fault
            proxy.resume()
            resumed = time.monotonic()
            publisher.finish()
            wait_charged(stage, run_id, events)
            during = [(took, call) for at, took, call in publisher.failed_calls if stalled <= at <= resumed]
            first = min((at - stalled for at, _, _ in publisher.failed_calls if at >= stalled), default=None)
            slowest = max((took for _, took, _ in publisher.failed_calls), default=0.0)
            kinds = sorted(
                {
                    f"{call}: {type(e).__name__}"
                    for (_, _, call), e in zip(publisher.failed_calls, publisher.errors, strict=False)
                }
            )
            row = outcome(
                stage,
                NAME,
                [e.event_id for e in stream],
                ledger_counts(stage, "usage"),
                time.monotonic() - resumed,
                detail=f"{stall_s:.0f} s stall of the publisher's RabbitMQ path; {len(during)} publisher "
                f"call(s) failed during it ({', '.join(kinds)}), the first {first or 0:.1f} s into it; the "
                f"slowest failed after {slowest:.1f} s (bound {BOUND_S:.0f} s); republished "
                f"{publisher.republished} time(s)",
            )
            if not during:
                row.problem = "the publisher's calls hung through the stall: none failed during it"
            elif slowest > HANG_FACTOR * BOUND_S:
                row.problem = f"a publisher call took {slowest:.1f} s to fail (bound {BOUND_S:.0f} s)"
            return row
    finally:
        proxy.close()
