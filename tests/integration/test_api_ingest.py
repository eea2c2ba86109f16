"""`POST /v1/events` through the real app on the test's database: without a broker events are
charged in the request (200, outcomes and costs); with RabbitMQ they are published with confirms
(202) and charged by the workers."""

from __future__ import annotations

import gzip
import json
from typing import Any

from sqlalchemy import Engine, text

from billing_core.usage.batch import INTERACTION_FAILED, MESSAGE_COMPLETED
from producers import Publisher
from tests.support.api import Api, error_of
from tests.support.ledger import create_org, grant, setup_prices
from tests.support.pipeline import rejected, usage_rows, wait_for_usage_queues, wait_until
from tests.support.servers import BROKER_URL

AT = "2026-05-01T12:00:00+00:00"
CE_BATCH = "application/cloudevents-batch+json"
CE_ONE = "application/cloudevents+json"


def wire(event_id: str, org: str = "acme", output_tokens: int = 1, **extra: Any) -> dict[str, Any]:
    """A unit-model event: with the test prices it costs `output_tokens` credits."""
    return {
        "event_id": event_id,
        "organization_id": org,
        "agent_id": "agent-1",
        "model": "unit-model",
        "input_tokens": 0,
        "output_tokens": output_tokens,
        "occurred_at": AT,
        **extra,
    }


def cloudevent(event: dict[str, Any], type_: str = MESSAGE_COMPLETED) -> dict[str, Any]:
    data = {k: v for k, v in event.items() if k not in ("event_id", "occurred_at")}
    return {
        "specversion": "1.0",
        "id": event["event_id"],
        "source": "runtime-1",
        "type": type_,
        "time": AT,
        "data": data,
    }


def post(api: Api, body: Any, content_type: str = "application/json", **kwargs: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    return api.post("/v1/events", data=data, headers=headers, **kwargs)


def ready(database_url: str, engine: Engine, orgs: tuple[str, ...] = ("acme",), **settings: Any) -> Api:
    setup_prices(engine)
    for org in orgs:
        create_org(engine, org)
        grant(engine, org, 100, f"{org}-g")
    return Api(database_url, engine, **settings)


def ledger_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [
            tuple(row)
            for row in c.execute(
                text(
                    "SELECT organization_id, event_id, amount, balance_after, idempotency_key, payload_hash, "
                    "description, user_id, agent_id, model, input_tokens, output_tokens, tools, "
                    "allocations, occurred_at FROM credit_transactions WHERE type = 'usage' ORDER BY event_id"
                )
            )
        ]


def test_json_cloudevents_batch_and_single_cloudevent_give_identical_ledger_rows(database_url, engine):
    events = [
        wire("e1", output_tokens=2, tools={"web_search": 1}, user_id="u-1"),
        wire("e2", output_tokens=3),
    ]
    rows = []
    for send in (
        lambda api: [post(api, events)],
        lambda api: [post(api, {"events": events})],
        lambda api: [post(api, [cloudevent(e) for e in events], CE_BATCH)],
        lambda api: [post(api, cloudevent(e), CE_ONE) for e in events],
    ):
        with engine.begin() as c:  # a fresh ledger for each form
            c.execute(
                text(
                    "TRUNCATE credit_transactions, credit_grants, balances, usage_daily, organizations "
                    "RESTART IDENTITY CASCADE"
                )
            )
        api = ready(database_url, engine)
        for response in send(api):
            assert response.status_code == 200, response.json
            assert response.json["rejected"] == []
        rows.append(ledger_rows(engine))
    assert rows[0] and all(form == rows[0] for form in rows)


def test_a_batch_charges_its_valid_events_and_refuses_the_others_by_index_and_field(database_url, engine):
    api = ready(database_url, engine, orgs=("acme", "globex"))
    key = api.new_key("acme")["key"]
    batch = [
        wire("ok-1"),
        wire("bad-tokens", output_tokens=-1),
        {
            "event_id": "no-model",
            "organization_id": "acme",
            "agent_id": "a",
            "input_tokens": 0,
            "output_tokens": 1,
            "occurred_at": AT,
        },
        wire("foreign", org="globex"),
        wire("nul", agent_id="a\x00b"),
        wire("ok-2", output_tokens=2),
        "not an object",
    ]
    response = post(api, batch, token=key)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["accepted"] == 2 and body["duplicates"] == []
    assert [(e["event_id"], e["outcome"], e["cost"]) for e in body["events"]] == [
        ("ok-1", "charged", "1.000000"),
        ("ok-2", "charged", "2.000000"),
    ]
    refused = {r["index"]: r for r in body["rejected"]}
    assert sorted(refused) == [1, 2, 3, 4, 6]
    assert refused[1]["field"] == "output_tokens" and refused[1]["error"].startswith("output_tokens:")
    assert refused[2]["field"] == "model" and refused[2]["event_id"] == "no-model"
    assert refused[3]["type"] == "forbidden_organization" and refused[3]["event_id"] == "foreign"
    assert refused[4]["field"] == "agent_id" and "NUL" in refused[4]["error"]
    assert refused[6]["field"] == "event" and refused[6]["event_id"] is None
    assert usage_rows(engine) == 2
    with engine.connect() as c:
        assert (
            c.execute(
                text(
                    "SELECT count(*) FROM credit_transactions WHERE organization_id = 'globex' "
                    "AND type = 'usage'"
                )
            ).scalar_one()
            == 0
        )


def test_resending_a_batch_charges_nothing_twice_and_says_which_were_duplicates(database_url, engine):
    api = ready(database_url, engine)
    first = post(api, [wire("e1"), wire("e2")])
    again = post(api, [wire("e1"), wire("e2"), wire("e3")])
    assert first.json["accepted"] == 2
    assert again.json["duplicates"] == ["e1", "e2"]
    assert [e["outcome"] for e in again.json["events"]] == ["duplicate", "duplicate", "charged"]
    assert usage_rows(engine) == 3


def test_events_the_ledger_cannot_charge_are_kept_as_rejected_events_and_named(database_url, engine):
    api = ready(database_url, engine)
    response = post(api, [wire("unknown-model", model="gpt-9"), wire("nobody", org="ghost")])
    assert response.status_code == 200
    assert [(r["index"], r["type"]) for r in response.json["rejected"]] == [
        (0, "unknown_model"),
        (1, "unknown_organization"),
    ]
    assert {reason for reason, _ in rejected(engine)} == {"unknown_model", "unknown_organization"}


def test_failure_reports_over_the_same_endpoint_refund_the_interaction(database_url, engine):
    api = ready(database_url, engine)
    failure = {
        "event_id": "f-1",
        "original_event_id": "e1",
        "organization_id": "acme",
        "reason": "stream cut",
        "occurred_at": AT,
    }
    response = post(api, [wire("e1", output_tokens=5), failure])
    assert [e["outcome"] for e in response.json["events"]] == ["charged", "refunded"]
    report = cloudevent({**failure, "event_id": "f-2", "original_event_id": "e2"}, INTERACTION_FAILED)
    waiting = post(api, report, CE_ONE)
    assert waiting.json["events"][0]["outcome"] == "refund_pending"
    charged = post(api, [wire("e2", output_tokens=3)])
    assert charged.json["events"][0]["outcome"] == "charged"  # and refunded by the report that came first
    balance = api.get("/v1/organizations/acme/balance").json
    assert balance["balance"] == "100.000000"


def test_gzip_bodies_are_accepted_and_limits_answer_413(database_url, engine):
    api = ready(database_url, engine)
    zipped = gzip.compress(json.dumps([wire("z1")]).encode())
    response = post(api, zipped, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.json["accepted"] == 1
    too_many = post(api, [wire(f"m{i}") for i in range(1001)])
    assert too_many.status_code == 413 and error_of(too_many)["type"] == "payload_too_large"
    bomb = gzip.compress(b"[" + b" " * (2 * 1024 * 1024) + b"]")
    assert post(api, bomb, headers={"Content-Encoding": "gzip"}).status_code == 413
    broken = post(api, b"\x1f\x8b not gzip", headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and error_of(broken)["field"] == "body"


def test_other_media_types_get_415_and_a_body_that_is_not_a_batch_400(database_url, engine):
    api = ready(database_url, engine)
    assert error_of(post(api, [wire("x")], "text/plain"))["type"] == "unsupported_media_type"
    for body, content_type in (
        (b"{not json", "application/json"),
        ({"event": 1}, "application/json"),
        ({"id": 1}, CE_BATCH),
        ([], CE_ONE),
    ):
        response = post(api, body, content_type)
        assert response.status_code == 400, response.json
        assert error_of(response)["field"] == "body"


def test_cloudevent_attributes_are_checked_and_named(database_url, engine):
    api = ready(database_url, engine)
    good = cloudevent(wire("c1"))
    bad = [
        {**good, "specversion": "0.3"},
        {**good, "type": "com.example.other"},
        {**good, "data": {**good["data"], "occurred_at": AT}},
        {**good, "data": {**good["data"], "output_tokens": "7"}},
        {**good, "id": "c2", "subject": "globex"},
        {k: v for k, v in good.items() if k != "time"},
    ]
    response = post(api, [*bad, {**good, "id": "c3", "subject": "acme"}], CE_BATCH)
    fields = [r["field"] for r in response.json["rejected"]]
    assert fields == ["specversion", "type", "data.occurred_at", "data.output_tokens", "subject", "time"]
    assert [e["event_id"] for e in response.json["events"]] == ["c3"]


def test_an_organization_key_ingests_only_its_own_events_and_a_limited_service_key_its_list(
    database_url, engine
):
    api = ready(database_url, engine, orgs=("acme", "globex", "initech"))
    service = api.post(
        "/v1/service-keys", json={"scopes": ["ingest"], "organizations": ["acme", "globex"]}
    ).json["key"]
    response = post(api, [wire("s1"), wire("s2", org="globex"), wire("s3", org="initech")], token=service)
    assert [e["event_id"] for e in response.json["events"]] == ["s1", "s2"]
    assert [(r["event_id"], r["type"]) for r in response.json["rejected"]] == [
        ("s3", "forbidden_organization")
    ]


def test_the_rate_limiter_answers_429_with_retry_after(database_url, engine):
    api = ready(database_url, engine, api_rate_limit_per_second=1, api_rate_limit_burst=1)
    assert post(api, [wire("r1")]).status_code == 200
    limited = post(api, [wire("r2")])
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_with_a_broker_events_are_published_with_confirms_then_charged_by_the_workers(
    database_url, engine, pipeline_settings, workers
):
    wait_for_usage_queues(BROKER_URL, pipeline_settings.queue_prefix)
    setup_prices(engine)
    for org in ("acme", "globex"):
        create_org(engine, org)
    with Publisher(BROKER_URL, queue_prefix=pipeline_settings.queue_prefix) as publisher:
        api = Api(database_url, engine, broker_url=BROKER_URL, queue_prefix=pipeline_settings.queue_prefix)
        api.app.extensions["billing"].publisher = publisher
        failure = {
            "event_id": "f1",
            "original_event_id": "b1",
            "organization_id": "acme",
            "reason": "cut",
            "occurred_at": AT,
        }
        response = post(api, [wire("b1"), wire("b2", org="globex"), wire("bad", output_tokens=-2), failure])
        assert response.status_code == 202, response.json
        assert response.json["accepted"] == 3 and response.json["duplicates"] is None
        assert [r["index"] for r in response.json["rejected"]] == [2]
        wait_until(lambda: usage_rows(engine) == 2, what="the workers charge the published events")
        assert post(api, [wire("b1"), wire("b2", org="globex")]).status_code == 202
        wait_until(
            lambda: (
                engine.connect()
                .execute(text("SELECT count(*) FROM credit_transactions WHERE type = 'refund'"))
                .scalar_one()
                == 1
            ),
            what="the failure report's refund",
        )
    assert usage_rows(engine) == 2


def test_with_a_broker_but_no_publisher_the_endpoint_answers_503(database_url, engine):
    api = ready(database_url, engine, broker_url=BROKER_URL)
    response = post(api, [wire("x")])
    assert response.status_code == 503 and error_of(response)["type"] == "ingest_unavailable"
