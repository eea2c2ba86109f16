"""Outbound notifications: written in the transaction of their cause (once per cause), delivered
through the notifications queue on the real RabbitMQ, signed per Standard Webhooks (verified with
svix), retried on failure with every attempt logged; endpoints only where a user may send."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, text
from svix.webhooks import Webhook

from billing_cli.processes import start_workers
from billing_core.errors import InvalidInput
from billing_core.ledger.usage import PricedEvent, debit_usage_batch
from billing_core.notifications import deliveries, endpoints
from billing_core.pricing.catalog import load_catalog
from billing_core.pricing.rules import price_message
from billing_core.settings import Settings
from tests.support.ledger import committed, create_org, debit, event, grant, setup_prices
from tests.support.pipeline import join_all, scalar, wait_until
from workers.notifications import deliver

NOW = datetime.now(UTC)


class Receiver:
    """A platform's webhook receiver on localhost: answers the statuses given, in turn, and keeps
    what it received and whether svix verified it."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    verified = True
                except Exception:
                    verified = False
                receiver.received.append(
                    {"body": json.loads(body), "verified": verified, "headers": dict(self.headers)}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()
                self.wfile.write(b"thanks" if status < 300 else b"not now")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([])
    yield made
    made.close()


def add_endpoint(
    engine: Engine, receiver: Receiver, org: str | None = None, types: list[str] | None = None
) -> int:
    made = committed(
        engine,
        lambda c: endpoints.add_endpoint(
            c, receiver.url, organization_id=org, event_types=types, allow_private=True
        ),
    )
    receiver.secret = made.secret
    return int(made.endpoint.id)


def notifications(engine: Engine, org: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT event_type, payload FROM notification_events "
                "WHERE CAST(:org AS text) IS NULL OR organization_id = :org ORDER BY id"
            ),
            {"org": org},
        ).all()
    return [(t, p["data"]) for t, p in rows]


def attempts(engine: Engine, delivery_id: int) -> list[tuple[int | None, int, str | None]]:
    return committed(engine, lambda c: deliveries.attempts_of(c, delivery_id))  # type: ignore[no-any-return]


def balance_alerts(engine: Engine, org: str) -> list[tuple[str, int | None]]:
    return [(t, d.get("threshold_percent")) for t, d in notifications(engine, org) if t.startswith("balance")]


def test_a_delivery_is_signed_retried_after_two_500s_and_every_attempt_is_logged(
    engine, pipeline_settings, receiver
):
    create_org(engine, "acme")
    add_endpoint(engine, receiver, types=["credits.granted"])
    receiver.statuses = [500, 500]
    grant(engine, "acme", 100, "welcome", at=NOW)
    [delivery_id] = [d.id for d in committed(engine, lambda c: deliveries.list_deliveries(c))]
    # The real path on RabbitMQ: lease, notifications queue, actor, HTTP (to this local receiver).
    workers = start_workers(
        pipeline_settings.model_copy(update={"notifications_allow_private": True}), engine
    )
    dispatcher = workers.notification_dispatcher()
    try:
        for attempt in range(1, 4):
            wait_until(lambda a=attempt: len(receiver.received) == a, what=f"attempt {attempt}")
            # Skip the backoff's wait (30 s, then 2 min) rather than sleep through it.
            wait_until(
                lambda a=attempt: (
                    len(committed(engine, lambda c: deliveries.attempts_of(c, delivery_id))) == a
                ),
                what=f"attempt {attempt} logged",
            )
            committed(
                engine,
                lambda c: c.execute(text("UPDATE notification_deliveries SET next_attempt_at = now()")),
            )
    finally:
        dispatcher.stop()
        workers.stop()
    log = attempts(engine, delivery_id)
    assert [code for code, _ms, _error in log] == [500, 500, 200]
    assert [error for _code, _ms, error in log] == ["HTTP 500", "HTTP 500", None]
    assert all(r["verified"] for r in receiver.received)
    assert {r["headers"]["webhook-id"] for r in receiver.received} == {
        receiver.received[0]["headers"]["webhook-id"]
    }
    body = receiver.received[-1]["body"]
    assert (body["type"], body["organization_id"], body["data"]["credits"]) == (
        "credits.granted",
        "acme",
        "100.000000",
    )
    [row] = committed(engine, lambda c: deliveries.list_deliveries(c))
    assert (row.status, row.attempts) == ("delivered", 3)


def test_each_threshold_crossing_fires_once_across_concurrent_debit_groups(engine, receiver):
    """20 organizations with 1,000 credits each take 50 debits of 21 credits (1,000 debits in all),
    in groups committed concurrently: each crosses 20% and 5% once and is exhausted once."""
    setup_prices(engine)
    add_endpoint(engine, receiver)  # platform-wide, every type
    orgs = [f"org-{i}" for i in range(20)]
    for org in orgs:
        create_org(engine, org)
        grant(engine, org, 1_000, f"seed-{org}", at=NOW)
    debits = [event(f"d{i}", orgs[i % 20], output_tokens=21, at=NOW) for i in range(1_000)]
    groups = [debits[i : i + 40] for i in range(0, 1_000, 40)]
    errors: list[BaseException] = []

    def run(batch: list[Any]) -> None:
        try:
            debit(engine, batch, now=NOW)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    join_all(threads, 60)
    assert not any(t.is_alive() for t in threads) and errors == []
    for org in orgs:
        fired = [
            (t, d.get("threshold_percent")) for t, d in notifications(engine, org) if t.startswith("balance")
        ]
        assert fired == [("balance.low", 20), ("balance.low", 5), ("balance.exhausted", None)], org


def test_a_rolled_back_debit_sends_nothing_and_the_crossing_fires_when_it_commits(engine, receiver):
    setup_prices(engine)
    add_endpoint(engine, receiver)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "seed", at=NOW)

    def crossing_then_failure(c: Any) -> None:
        e = event("big", "acme", output_tokens=90, at=NOW)
        debit_usage_batch(c, [PricedEvent(e, price_message(e.usage, e.occurred_at, load_catalog(c)))], NOW)
        raise RuntimeError("the transaction fails after the debit")

    with pytest.raises(RuntimeError):
        committed(engine, crossing_then_failure)
    assert [t for t, _ in notifications(engine, "acme") if t.startswith("balance")] == []
    debit(engine, [event("big", "acme", output_tokens=90, at=NOW)], now=NOW)
    debit(engine, [event("small", "acme", output_tokens=1, at=NOW)], now=NOW)  # still below: nothing new
    assert [t for t, _ in notifications(engine, "acme") if t.startswith("balance")] == ["balance.low"]


def test_a_grant_back_above_the_thresholds_fires_recovered_once_and_a_new_crossing_fires_again(
    engine, receiver
):
    setup_prices(engine)
    add_endpoint(engine, receiver)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "seed", at=NOW)
    debit(engine, [event("e1", "acme", output_tokens=100, at=NOW)], now=NOW)  # exhausted
    grant(engine, "acme", 100, "top-up", at=NOW)  # allocation 200, balance 100: above 20%
    debit(engine, [event("e2", "acme", output_tokens=70, at=NOW)], now=NOW)  # 30 left: below 20%
    fired = [
        (t, d.get("threshold_percent")) for t, d in notifications(engine, "acme") if t.startswith("balance")
    ]
    assert fired == [
        ("balance.low", 20),
        ("balance.low", 5),
        ("balance.exhausted", None),
        ("balance.recovered", None),
        ("balance.low", 20),
    ]


def test_without_an_endpoint_that_wants_it_no_notification_is_written(engine):
    create_org(engine, "acme")
    grant(engine, "acme", 100, "seed", at=NOW)
    assert scalar(engine, "SELECT count(*) FROM notification_events") == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "https"),
        ("https://127.0.0.1/hook", "private"),
        ("https://localhost/hook", "private"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://[::1]/hook", "private"),
        ("https://user:pw@example.com/hook", "credentials"),
    ],
)
def test_endpoint_urls_that_a_user_should_not_reach_are_refused(engine, url, why):
    with pytest.raises(InvalidInput, match=why):
        committed(
            engine,
            lambda c: endpoints.add_endpoint(
                c, url, organization_id=None, event_types=None, allow_private=False
            ),
        )
    assert scalar(engine, "SELECT count(*) FROM notification_endpoints") == 0


def test_at_delivery_time_a_private_address_is_refused_and_a_redirect_is_not_followed(engine, receiver):
    create_org(engine, "acme")
    add_endpoint(engine, receiver, types=["credits.granted"])  # saved while private addresses were allowed
    grant(engine, "acme", 5, "first", at=NOW)
    strict = Settings(database_url="unused", notifications_allow_private=False)
    [first] = [d.id for d in committed(engine, lambda c: deliveries.list_deliveries(c))]
    assert deliver(engine, strict, first) == "pending"
    [(code, _ms, error)] = committed(engine, lambda c: deliveries.attempts_of(c, first))
    assert code is None and error.startswith("not sent") and receiver.received == []
    receiver.statuses = [302]
    relaxed = Settings(database_url="unused", notifications_allow_private=True)
    grant(engine, "acme", 5, "second", at=NOW)
    second = max(d.id for d in committed(engine, lambda c: deliveries.list_deliveries(c)))
    assert deliver(engine, relaxed, second) == "pending"  # a 302 is a failure, not followed
    assert len(receiver.received) == 1
    assert committed(engine, lambda c: deliveries.attempts_of(c, second))[0][0] == 302


def test_an_organizations_endpoint_hears_only_its_own_events_and_never_platform_only_ones(engine, receiver):
    create_org(engine, "acme")
    create_org(engine, "globex")
    own = add_endpoint(engine, receiver, org="acme")
    with pytest.raises(InvalidInput, match="platform-wide"):
        committed(
            engine,
            lambda c: endpoints.add_endpoint(
                c, receiver.url, organization_id="acme", event_types=["usage.rejected"], allow_private=True
            ),
        )
    grant(engine, "acme", 5, "a", at=NOW)
    grant(engine, "globex", 5, "g", at=NOW)
    with engine.connect() as c:
        targets = c.execute(
            text(
                "SELECT n.organization_id, d.endpoint_id FROM notification_deliveries d "
                "JOIN notification_events n ON n.id = d.event_id"
            )
        ).all()
    assert [tuple(t) for t in targets] == [("acme", own)]
