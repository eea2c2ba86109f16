"""Scenario 5: `billing api` SIGKILLed again and again while clients grant bonus credits with an
`Idempotency-Key` and report usage to POST /v1/events, retrying whatever got no answer (and, now
and then, what did): each grant is made once, each event charged once."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request

from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.scenarios.common import start_worker, wait_charged
from chaos.stage import Services, scratch_stage, wait_until
from chaos.stream import create_orgs, usage_events

NAME = "api-kill"
TOKEN = "chaos-admin-token"


def _post(url: str, body: object, headers: dict[str, str], deadline: float) -> int:
    """POST until the API answers other than 5xx (a killed API: refused, reset, no answer)."""
    data = json.dumps(body).encode()
    while True:
        request = urllib.request.Request(url, data, {**headers, "Content-Type": "application/json"})
        request.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            if error.code < 500 and error.code != 429:
                return int(error.code)
        except OSError:
            pass  # refused or cut: the process is down or was killed mid-request
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url} before the deadline")
        time.sleep(0.1)


def run(services: Services, events: int) -> Outcome:
    with scratch_stage(services, NAME, {"ADMIN_TOKEN": TOKEN, "BILLING_API_RATE_LIMIT": "100000"}) as stage:
        orgs = create_orgs(stage, 20)
        rng = random.Random(5)
        run_id = f"api{time.time_ns():x}"
        stream = usage_events(run_id, events, orgs)
        grants = [(f"grant-{run_id}-{i}", orgs[i % len(orgs)]) for i in range(max(50, events // 10))]
        start_worker(stage)
        api = stage.api()
        api.start()
        base = api.health_url.removesuffix("/healthz") if api.health_url else ""
        deadline = time.monotonic() + 600
        refused: list[tuple[str, int]] = []

        spread = (
            12.0 if events >= 1000 else 6.0
        )  # seconds the requests are spread over: the kills land among them

        def grant_all(share: list[tuple[str, str]]) -> None:
            for key, org in share:
                time.sleep(spread / len(share))
                for _ in range(2 if rng.random() < 0.1 else 1):  # a client retrying after an answer too
                    status = _post(
                        f"{base}/v1/organizations/{org}/credits",
                        {"credits": "1"},
                        {"Idempotency-Key": key},
                        deadline,
                    )
                    if status not in (200, 201):
                        refused.append((key, status))

        def ingest_all(batches: list[list[dict[str, object]]]) -> None:
            for batch in batches:
                time.sleep(spread / len(batches))
                status = _post(f"{base}/v1/events", batch, {}, deadline)
                if status != 202:
                    refused.append(("events", status))

        wires = [json.loads(json.dumps(e.to_wire(), default=str)) for e in stream]
        batches = [wires[i : i + 20] for i in range(0, len(wires), 20)]
        clients = [threading.Thread(target=grant_all, args=(grants[i::3],)) for i in range(3)]
        clients += [threading.Thread(target=ingest_all, args=(batches[i::2],)) for i in range(2)]
        for client in clients:
            client.start()
        kills = 0
        while any(c.is_alive() for c in clients) and kills < 10:
            time.sleep(rng.uniform(0.3, 2.0))
            api.kill()
            kills += 1
            api.start()
        last_fault = time.monotonic()
        for client in clients:
            client.join(max(1.0, deadline - time.monotonic()))
        wait_until(lambda: not any(c.is_alive() for c in clients), 10, "the HTTP clients to finish")
        recover = wait_charged(stage, run_id, events)
        sent = [key for key, _ in grants] + [e.event_id for e in stream]
        applied = ledger_counts(stage, "bonus", key="reference_id", reference_type="admin_api")
        applied.update(ledger_counts(stage, "usage"))
        row = outcome(
            stage,
            NAME,
            sent,
            applied,
            max(recover, time.monotonic() - last_fault),
            detail=f"{kills} API SIGKILLs; {len(grants)} keyed grants, {len(stream)} events over HTTP",
        )
        if refused:
            row.rejected_unexpected += len(refused)
            row.detail += f"; refused answers {refused[:5]}"
        return row
