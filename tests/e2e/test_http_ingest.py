"""Usage over HTTP as runtimes send it: `billing api` killed while a client streams batches, and
the producers package installed on its own in a fresh virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from producers import HttpPublisher
from tests.support.api import ADMIN
from tests.support.ledger import create_org, grant, setup_prices
from tests.support.pipeline import completed, scalar, usage_rows, wait_for_usage_queues, wait_until
from tests.support.processes import ApiProcess
from tests.support.servers import BROKER_URL

EVENTS = 3000
ROOT = Path(__file__).resolve().parents[2]
BACKEND = ("flask", "sqlalchemy", "dramatiq", "stripe", "psycopg", "billing_core")  # none may come along


def test_the_api_killed_mid_stream_loses_nothing_the_client_was_told_and_doubles_nothing(
    engine, process_env, queue_prefix, spawn_worker, tmp_path
):
    setup_prices(engine)
    orgs = [f"org-{i}" for i in range(10)]
    for org in orgs:
        create_org(engine, org)
        grant(engine, org, 100_000, f"seed-{org}")
    worker = spawn_worker()
    worker.start()
    wait_for_usage_queues(BROKER_URL, queue_prefix)
    env = {
        **process_env,
        "ADMIN_TOKEN": ADMIN,
        "BILLING_API_RATE_LIMIT": "100000",
        "BILLING_API_RATE_BURST": "100000",
    }
    api = ApiProcess(env, tmp_path / "api.log")
    api.start()
    acknowledged: list[int] = []
    kills = 0

    def killer() -> None:
        nonlocal kills
        for threshold in (EVENTS // 4, EVENTS // 2):
            wait_until(lambda t=threshold: sum(acknowledged) >= t, what="the client's progress")
            api.kill()  # SIGKILL: requests in flight get no answer and are sent again
            kills += 1
            time.sleep(0.5)
            api.start()

    events = [completed(f"http-{i}", org=orgs[i % 10], output_tokens=1 + i % 3) for i in range(EVENTS)]
    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with HttpPublisher(
            api.url,
            ADMIN,
            max_batch=50,
            concurrency=2,
            max_retries=30,
            on_request=lambda n, s: acknowledged.append(n),
        ) as publisher:
            for start in range(0, EVENTS, 100):
                publisher.publish_many(events[start : start + 100])
                time.sleep(0.01)
            publisher.flush(timeout=120)  # returns: the server acknowledged every event
        thread.join(timeout=120)
    finally:
        api.stop()
    assert kills == 2
    wait_until(lambda: usage_rows(engine) >= EVENTS, timeout=120, what="every acknowledged event charged")
    time.sleep(1.0)  # redeliveries, if any, would add rows now
    assert usage_rows(engine) == EVENTS
    assert (
        scalar(engine, "SELECT count(DISTINCT event_id) FROM credit_transactions WHERE type = 'usage'")
        == EVENTS
    )
    assert scalar(engine, "SELECT -SUM(amount) FROM credit_transactions WHERE type = 'usage'") == sum(
        (1 + i % 3) * 1_000_000 for i in range(EVENTS)
    )


PUBLISHERS = """
import asyncio, sys
from datetime import UTC, datetime
from producers import AsyncHttpPublisher, HttpPublisher, MessageCompleted

url, key = sys.argv[1], sys.argv[2]
at = datetime(2026, 5, 1, 12, tzinfo=UTC)
def event(i):
    return MessageCompleted(event_id=f"venv-{i}", organization_id="acme", agent_id="a", model="unit-model",
                            input_tokens=0, output_tokens=1, occurred_at=at)

with HttpPublisher(url, key) as publisher:
    publisher.publish_many(event(i) for i in range(50))

async def main():
    async with AsyncHttpPublisher(url, key) as publisher:
        for i in range(50, 100):
            await publisher.publish(event(i))
asyncio.run(main())
print("published 100")
"""


def test_the_producers_package_installs_alone_and_both_http_publishers_work_against_the_api(
    database_url, engine, tmp_path
):
    source = tmp_path / "producers"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    shutil.copytree(
        os.path.join(root, "producers"),
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(source)], capture_output=True, text=True, timeout=300
    )
    assert install.returncode == 0, install.stderr
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    absent = subprocess.run(
        [
            python,
            "-c",
            f"import importlib.util as u; print([m for m in {BACKEND!r} if u.find_spec(m)])",
        ],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr

    setup_prices(engine)
    create_org(engine, "acme")
    env = {**clean_env, "DATABASE_URL": database_url, "ADMIN_TOKEN": ADMIN}
    env.pop("BROKER_URL", None)
    api = ApiProcess(env, tmp_path / "api.log")
    api.start()
    try:
        script = tmp_path / "publish.py"
        script.write_text(textwrap.dedent(PUBLISHERS))
        run = subprocess.run(
            [python, str(script), api.url, ADMIN],
            cwd=tmp_path,
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        api.stop()
    assert usage_rows(engine) == 100
