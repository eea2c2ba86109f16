"""`billing status` as an operator (or cron) runs it: an induced backlog — queued usage and a stopped
worker — is reported with a non-zero exit; once a worker drained it, the status is clean."""

from __future__ import annotations

import json
import subprocess

from bench.scratch import wait_for_queue
from billing_core.settings import Settings
from tests.support.ledger import create_org, grant, setup_prices
from tests.support.pipeline import (
    completed,
    publish_confirmed,
    usage_queue,
    usage_rows,
    wait_until,
    wait_until_broker_idle,
)
from tests.support.processes import BILLING
from tests.support.servers import BROKER_URL
from workers.broker import every_queue


def _status(env: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = subprocess.run(
        [BILLING, "status", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    return result.returncode, json.loads(result.stdout)


def test_status_reports_a_backlog_without_a_worker_and_is_clean_once_drained(
    engine, process_env, queue_prefix, spawn_worker
):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 1_000, "seed")
    worker = spawn_worker()
    worker.start()
    for name in every_queue(Settings(queue_prefix=queue_prefix)):
        wait_for_queue(BROKER_URL, name)
    worker.stop()  # the queues stay; nobody consumes them now
    publish_confirmed(BROKER_URL, queue_prefix, [completed(f"backlog-{i}") for i in range(20)])

    code, status = _status(process_env)
    assert code == 1 and status["ok"] is False
    partition = usage_queue(queue_prefix, "acme").removeprefix(queue_prefix)
    queues = {q["name"]: q for q in status["queues"]}
    assert queues[partition]["ready"] >= 1 and queues[partition]["consumers"] == 0
    assert any(partition in item and "no consumer" in item for item in status["attention"]), status
    assert any("scheduler never ran" in item for item in status["attention"]), status
    text = subprocess.run([BILLING, "status"], env=process_env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 1 and partition in text.stdout and "attention:" in text.stdout

    sweep = subprocess.run(
        [BILLING, "scheduler", "--once"], env=process_env, capture_output=True, timeout=120
    )
    assert sweep.returncode == 0, sweep.stderr
    worker.start()
    wait_until(lambda: usage_rows(engine) == 20, what="the backlog to be charged")
    wait_until_broker_idle(queue_prefix)
    code, status = _status(process_env)
    assert (code, status["attention"]) == (0, []), status
    assert status["usage_lag"]["rows"] == 20 and status["backlogs"]["rejected_pending"] == {}
