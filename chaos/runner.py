"""`billing chaos`: run scenarios on private services, one row per scenario; exit status 1 if
anything was lost, doubled or unexpectedly rejected, or reconcile disagreed."""

from __future__ import annotations

import json
import logging
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from chaos.outcome import Outcome
from chaos.scenarios import (
    api_kill,
    publisher_stall,
    refund_storm,
    scheduler_kill,
    service_restarts,
    slow_consumer,
    stalled_network,
    webhook_kill,
    worker_kill,
)
from chaos.stage import Services, private_services

Scenario = Callable[[Services, int], Outcome]

# name -> (scenario, how many events at `--events N`: a fraction for the costlier ones)
SCENARIOS: dict[str, tuple[Scenario, float]] = {
    worker_kill.NAME: (worker_kill.run, 1.0),
    service_restarts.DATABASE: (service_restarts.run_database_restart, 0.5),
    service_restarts.BROKER: (service_restarts.run_broker_restart, 0.5),
    api_kill.NAME: (api_kill.run, 0.25),
    webhook_kill.NAME: (webhook_kill.run, 1.0),
    scheduler_kill.NAME: (scheduler_kill.run, 1.0),
    refund_storm.NAME: (refund_storm.run, 0.05),
    slow_consumer.NAME: (slow_consumer.run, 0.1),
    stalled_network.NAME: (stalled_network.run, 0.1),
    publisher_stall.NAME: (publisher_stall.run, 0.1),
}
DEFAULT_EVENTS = 20_000


def run_scenario(services: Services, name: str, events: int) -> Outcome:
    scenario, share = SCENARIOS[name]
    return scenario(services, max(20, int(events * share)))


def _failed(name: str, error: BaseException) -> Outcome:
    detail = f"{type(error).__name__}: {error}".replace("\n", " ")[:400]
    return Outcome(name, 0, 0, 0, 0, 0, 0, None, "not run", f"scenario failed: {detail}")


COLUMNS = (
    "scenario",
    "sent",
    "charged_once",
    "lost",
    "charged_twice",
    "rejected_expected",
    "rejected_unexpected",
    "recover_s",
    "reconcile",
)


def print_table(rows: list[Outcome]) -> None:
    widths = [max(len(c), *(len(str(r.as_dict()[c])) for r in rows)) for c in COLUMNS]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        values = row.as_dict()
        print("  ".join(str(values[c]).ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        if row.detail or row.problem:
            print(f"  {row.scenario}: {row.detail} {('PROBLEM: ' + row.problem) if row.problem else ''}")


def main(names: list[str], events: int, as_json: bool, logs: Path | None = None) -> int:
    for noisy in ("pika", "alembic"):  # reconnects and migrations of scratch databases are expected here
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    logs = logs or Path(tempfile.mkdtemp(prefix="billing-chaos-logs-"))
    rows: list[Outcome] = []
    started = time.monotonic()
    with private_services(logs) as services:
        for name in names:
            try:
                row = run_scenario(services, name, events)
            except Exception as error:  # one scenario's failure is its row; the others still run
                traceback.print_exc()
                row = _failed(name, error)
            rows.append(row)
            if as_json:
                print(json.dumps(row.as_dict()), flush=True)
    if not as_json:
        print_table(rows)
    summary = {
        "summary": True,
        "ok": all(r.ok for r in rows),
        "seconds": round(time.monotonic() - started),
        "logs": str(logs),
    }
    print(json.dumps(summary) if as_json else f"{'all ok' if summary['ok'] else 'FAILED'}; logs in {logs}")
    return 0 if summary["ok"] else 1
