"""Scenario 6: the webhook receiver SIGKILLed mid-delivery while the provider retries (and now
and then delivers again what was answered), once exactly between its commit and its enqueue; the
worker SIGKILLed mid-processing and once between applying an event and acknowledging it. Every
event is applied once (one subscription credit per organization) and the inbox drains."""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import stripe

from bench.webhooks import invoice_paid
from billing_core.ledger.accounts import create_organization
from chaos.outcome import Outcome, ledger_counts, outcome
from chaos.processes import BillingProcess
from chaos.scenarios.common import armed, keep_running, start_worker
from chaos.stage import Services, Stage, scratch_stage, wait_until

NAME = "webhook-kill"
SECRET = "whsec_chaos_" + "c" * 24


def deliver(url: str, body: bytes, deadline: float) -> None:
    """As the provider does: deliver until a 2xx answer, whatever happened to the receiver."""
    while time.monotonic() < deadline:
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as answer:
                if 200 <= answer.status < 300:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise AssertionError(
                    f"the receiver refused a delivery: {error.code} {error.read()!r}"
                ) from None
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("a delivery got no 2xx answer before the deadline")


def unfinished(stage: Stage) -> int:
    return stage.scalar("SELECT count(*) FROM webhook_inbox WHERE status NOT IN ('processed', 'ignored')")


def run(services: Services, events: int) -> Outcome:
    env = {"STRIPE_WEBHOOK_SECRET": SECRET, "BILLING_WEBHOOK_RETRY_DELAY_MS": "500"}
    with scratch_stage(services, NAME, env) as stage:
        count = max(40, events // 20)
        orgs = [f"org-{i}" for i in range(count)]
        with stage.engine.begin() as c:
            for org in orgs:
                create_organization(c, org)
        rng = random.Random(6)
        worker = start_worker(stage)
        receiver = stage.webhooks()
        receiver.start()
        url = (receiver.health_url or "").replace("/healthz", "/webhooks/stripe")
        start = int(datetime.now(UTC).timestamp())
        deadline = time.monotonic() + 300
        bodies = [invoice_paid(i, start) for i in range(count)]  # org-<i>'s first invoice

        def provider(share: list[bytes]) -> None:
            for body in share:
                time.sleep((10.0 if count >= 500 else 5.0) / len(share))
                deliver(url, body, deadline)
                if rng.random() < 0.1:
                    deliver(url, body, deadline)  # the provider's own duplicate

        senders = [threading.Thread(target=provider, args=(bodies[i::4],)) for i in range(4)]
        for sender in senders:
            sender.start()
        kills, at_fault = _kill_while(senders, rng, receiver, worker, stage)
        last_fault = time.monotonic()
        keep_running(worker)
        # The receiver killed between its commit and its enqueue left rows only the inbox sweep sends:
        # run it with its clock past the 5-minute staleness, as a later sweep would find them.
        later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
        sweep = stage.scheduler("--once", "--now", later)
        sweep.start()
        sweep.wait_exit(120)
        recover = wait_until(
            lambda: unfinished(stage) == 0,
            120,
            lambda: f"the inbox to drain; {unfinished(stage)} rows unfinished",
        )
        stage.wait_drained()
        return outcome(
            stage,
            NAME,
            orgs,
            ledger_counts(stage, "subscription_credit", key="organization_id"),
            max(recover, time.monotonic() - last_fault),
            detail=f"{kills} SIGKILLs of the receiver and the worker ({at_fault} died at an armed fault "
            f"point first); {count} events",
        )


def _kill_while(
    senders: list[threading.Thread],
    rng: random.Random,
    receiver: BillingProcess,
    worker: BillingProcess,
    stage: Stage,
) -> tuple[int, int]:
    """Kill the receiver and the worker in turn while the provider delivers; the first receiver
    and worker restarts are armed at their fault points. Returns (kills, deaths at a fault point)."""
    kills = at_fault = 0
    while any(s.is_alive() for s in senders):
        time.sleep(rng.uniform(0.5, 2.0))
        target = receiver if kills % 2 == 0 else worker
        if target.running:
            target.kill()
        else:
            at_fault += 1
        kills += 1
        if target is receiver:
            point = "webhook:after_commit_before_enqueue"
            receiver.start(armed(point) if kills == 1 else None)
        else:
            worker.start(armed("webhook:after_commit_before_ack") if kills == 2 else None)
    for sender in senders:
        sender.join(60)
    wait_until(lambda: not any(s.is_alive() for s in senders), 10, "the provider's deliveries to end")
    return kills, at_fault
