"""Steps several scenarios share: start workers and wait for their queues, wait for a stream to be
charged, arm a fault point."""

from __future__ import annotations

from bench.scratch import wait_for_queue
from chaos.processes import BillingProcess
from chaos.stage import Stage, wait_until
from producers.routing import DEFAULT_PARTITIONS, usage_queue


def start_worker(stage: Stage, threads: int = 8, extra_env: dict[str, str] | None = None) -> BillingProcess:
    worker = stage.worker(threads)
    worker.start(extra_env)
    for partition in range(DEFAULT_PARTITIONS):
        wait_for_queue(stage.broker_url, f"{stage.prefix}{usage_queue(partition)}")
    return worker


def armed(point: str, after: int = 1, action: str = "kill") -> dict[str, str]:
    """The environment that arms fault point `point` (billing_core/faults.py)."""
    return {"BILLING_FAULT": point, "BILLING_FAULT_AFTER": str(after), "BILLING_FAULT_ACTION": action}


def charged_distinct(stage: Stage, run: str) -> int:
    return stage.scalar(
        "SELECT count(DISTINCT event_id) FROM credit_transactions WHERE type = 'usage' AND event_id LIKE :p",
        p=f"{run}-%",
    )


def wait_charged(stage: Stage, run: str, distinct: int, timeout: float = 300) -> float:
    """Wait until `distinct` events of run `run` are in the ledger, then for the queues to drain
    (a redelivered duplicate still in flight would otherwise go uncounted); returns the seconds."""
    took = wait_until(
        lambda: charged_distinct(stage, run) >= distinct,
        timeout,
        lambda: (
            f"{distinct} events charged; {charged_distinct(stage, run)} are, "
            f"backlog (ready, unacked) {stage.queue_backlog()}"
        ),
    )
    return took + stage.wait_drained()


def keep_running(process: BillingProcess) -> None:
    """Start `process` again if a fault point killed it (what a supervisor or systemd would do)."""
    if not process.running:
        process.start()
