"""The actors: decode the message, call a use case, classify failures. Nothing is swallowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from billing_core.errors import NotYet
from billing_core.faults import fault_point
from billing_core.usage import rejections
from producers import routing, wire
from workers.broker import queue
from workers.runtime import WorkerRuntime

# Backoff stays far below RabbitMQ's 30-minute consumer timeout (delayed messages are held unacked).
RETRY_OPTIONS: dict[str, Any] = {"max_retries": 20, "min_backoff": 1_000, "max_backoff": 300_000}


@dataclass
class Actors:
    debit_usage: dramatiq.Actor[Any, Any]
    refund_failed_interactions: dramatiq.Actor[Any, Any]
    grant_due_credits: dramatiq.Actor[Any, Any]
    process_webhook: dramatiq.Actor[Any, Any]
    deliver_notification: dramatiq.Actor[Any, Any]
    charge_recharge: dramatiq.Actor[Any, Any]


GRANT_ACTOR = "grant_due_credits"
WEBHOOK_ACTOR = "process_webhook"
RECHARGE_ACTOR = "charge_recharge"


def declare_actors(broker: dramatiq.Broker, runtime: WorkerRuntime) -> Actors:
    settings = runtime.settings

    def park_malformed(kind: str, args: Any, detail: str) -> None:
        runtime.parked_message(kind=kind, reason=rejections.MALFORMED, payload={"args": args}, detail=detail)

    def declare(fn: Any, actor_name: str, queue_name: str) -> dramatiq.Actor[Any, Any]:
        """An actor that retries with bounded backoff. A message out of retries is dead-lettered
        by Dramatiq, and the dead-letter sweeper (workers/dead_letters.py) parks it, replayable."""
        return dramatiq.actor(broker=broker, actor_name=actor_name, queue_name=queue_name, **RETRY_OPTIONS)(
            fn
        )

    def debit_usage(events: Any) -> None:
        """Price and debit a message's events, together with other messages in flight."""
        if not isinstance(events, list):
            park_malformed("usage", events, "the message's argument must be a list of events")
            return
        message = CurrentMessage.get_current_message()
        runtime.charge_usage(events, message.message_timestamp / 1000 if message is not None else None)
        fault_point("usage:after_commit_before_ack")

    # Bound to the partitions' common name, which no worker consumes: usage is sent to the queue
    # of its partition (WorkerApp.send_usage), never with debit_usage.send.
    debit = declare(debit_usage, wire.USAGE_ACTOR, queue(settings, routing.USAGE_QUEUE))

    def refund_failed_interactions(reports: Any) -> None:
        """Keep failure reports and refund the debits they name (now, or when the debit arrives)."""
        if not isinstance(reports, list):
            park_malformed("refund", reports, "the message's argument must be a list of failure reports")
            return
        runtime.refund_failures(reports)
        fault_point("refund:after_commit_before_ack")

    refund = declare(refund_failed_interactions, wire.REFUND_ACTOR, queue(settings, wire.REFUNDS_QUEUE))

    def grant_due_credits(subscription_id: Any, period_start: Any, as_of: Any = None) -> None:
        """Grant a subscription's month if it is still due; a duplicate message grants nothing."""
        if not isinstance(subscription_id, int) or not isinstance(period_start, str):
            park_malformed(
                "grants",
                [subscription_id, period_start, as_of],
                "expected (subscription id, period start as ISO 8601 time[, as of])",
            )
            return
        runtime.grant_due(subscription_id, period_start, as_of if isinstance(as_of, str) else None)
        fault_point("grant:after_commit_before_ack")

    grant = declare(grant_due_credits, GRANT_ACTOR, queue(settings, "grants"))

    def process_webhook(inbox_id: Any) -> None:
        """Apply a stored provider event once; one that needs state not created yet is retried."""
        if not isinstance(inbox_id, int):
            park_malformed("webhooks", inbox_id, "the message's argument must be an inbox row id")
            return
        try:
            runtime.process_webhook(inbox_id)
            fault_point("webhook:after_commit_before_ack")
        except NotYet as wait:
            raise dramatiq.Retry(str(wait), delay=settings.webhook_retry_delay_ms) from None

    webhook = declare(process_webhook, WEBHOOK_ACTOR, queue(settings, "webhooks"))

    def deliver_notification(delivery_id: Any) -> None:
        """Send one notification delivery (its own retry schedule: a failure is logged, not raised)."""
        if not isinstance(delivery_id, int):
            park_malformed("notifications", delivery_id, "the message's argument must be a delivery id")
            return
        runtime.deliver_notification(delivery_id)

    notify = declare(deliver_notification, "deliver_notification", queue(settings, "notifications"))

    def charge_recharge(purchase_id: Any) -> None:
        """Charge one auto-recharge off-session, at most once (its idempotency key); a provider that
        cannot be reached raises, and the retry uses the same key."""
        if not isinstance(purchase_id, int):
            park_malformed("purchases", purchase_id, "the message's argument must be a purchase id")
            return
        runtime.charge_recharge(purchase_id)

    recharge = declare(charge_recharge, RECHARGE_ACTOR, queue(settings, "purchases"))
    runtime.send_recharge = recharge.send  # the usage commit hands it the recharges it recorded
    return Actors(
        debit_usage=debit,
        refund_failed_interactions=refund,
        grant_due_credits=grant,
        process_webhook=webhook,
        deliver_notification=notify,
        charge_recharge=recharge,
    )
