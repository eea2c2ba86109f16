"""The CLI's privileged commands: each leaves exactly one audit event naming who ran it (`--as`
or the OS user); `billing admins` manages admin keys and `billing audit` reads the log."""

from __future__ import annotations

import getpass
import json

import pytest
from sqlalchemy import text

from billing_cli.main import main
from tests.support.api import Api
from tests.support.audit import audit_events, audit_text
from tests.support.ledger import create_org, debit, event, grant, setup_prices
from tests.support.purchases import deliver


@pytest.fixture
def cli(database_url, engine, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BILLING_NOTIFICATIONS_ALLOW_PRIVATE", "true")
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "g-acme")
    debit(engine, [event("e-1", "acme", output_tokens=3)])

    def run(*args: str) -> str:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr().out
        assert code == 0, (args, out)
        return out

    return run


# (command, action); {service_key}, {endpoint} and {budget} are ids made by earlier commands.
COMMANDS = [
    ("orgs create newco --name New", "organization.create"),
    ("credits grant acme 5 --idempotency-key cli-1", "credits.grant"),
    ("refunds create acme e-1 --reason broken", "refund.create"),
    ("keys create --scope read --json", "service_key.create"),
    ("keys revoke {service_key}", "service_key.revoke"),
    ("admins create bob --role read", "admin_key.create"),
    ("admins revoke bob", "admin_key.revoke"),
    ("prices set my-model --input 1 --output 2 --effective-at 2026-01-01T00:00:00Z", "price.set"),
    ("prices set-tool web_search --per-call 1.5", "price.set"),
    ("plans set pro --credits-per-month 2500", "plan.set"),
    ("packs set small --credits 100 --price 500 --currency USD --name Small", "pack.set"),
    ("events replay", "events.replay"),
    ("budgets set acme --scope organization --period month --limit 50", "budget.set"),
    ("budgets delete acme {budget}", "budget.delete"),
    ("notifications endpoints add http://127.0.0.1:9/hook", "notification_endpoint.create"),
    ("notifications endpoints disable {endpoint}", "notification_endpoint.disable"),
    ("notifications endpoints enable {endpoint}", "notification_endpoint.enable"),
    ("notifications endpoints rotate-secret {endpoint}", "notification_endpoint.rotate_secret"),
    ("notifications thresholds acme 20,5", "balance_alerts.set"),
]


def test_every_privileged_command_leaves_exactly_one_event_naming_who_ran_it(cli, engine):
    made: dict[str, object] = {}
    for command, action in COMMANDS:
        before = len(audit_events(engine, action))
        out = cli("--as", "ops-bob", *command.format(**made).split())
        if command.startswith("keys create"):
            made["service_key"] = json.loads(out)["id"]
        events = audit_events(engine, action)[before:]
        assert len(events) == 1, (command, events)
        assert (events[0]["actor_kind"], events[0]["actor"]) == ("cli", "ops-bob"), command
        if action == "budget.set":
            made["budget"] = events[0]["target_id"]
        if action == "notification_endpoint.create":
            made["endpoint"] = events[0]["target_id"]
    [granted] = audit_events(engine, "credits.grant")
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT audit_event_id FROM credit_transactions WHERE id = :id"),
            {"id": int(granted["target_id"])},
        ).scalar_one()
    assert row == granted["id"]


def test_without_as_the_os_user_acts_and_a_failed_command_leaves_nothing(cli, engine):
    cli("credits", "grant", "acme", "1", "--idempotency-key", "mine")
    assert audit_events(engine, "credits.grant")[0]["actor"] == getpass.getuser()
    assert main(["credits", "grant", "nobody", "1", "--idempotency-key", "x"]) == 2
    assert main(["admins", "revoke", "no-such-admin"]) == 2
    assert len(audit_events(engine)) == 1


def test_admins_create_list_revoke_and_the_key_works_until_revoked(cli, engine, database_url):
    out = cli("--as", "root-ann", "admins", "create", "carol", "--role", "support", "--json")
    created = json.loads(out)
    assert created["created_by"] == "root-ann" and created["role"] == "support"
    api = Api(database_url, engine)
    assert api.get("/v1/audit-events", token=created["key"]).status_code == 200
    listed = json.loads(cli("admins", "list", "--json"))
    assert [(k["name"], k["revoked_at"]) for k in listed] == [("carol", None)]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is not None
    assert "carol" in cli("admins", "list")
    cli("admins", "revoke", str(created["id"]))
    assert api.get("/v1/audit-events", token=created["key"]).status_code == 401
    assert created["key"] not in audit_text(engine)


def test_billing_audit_filters_and_prints_json_or_a_table(cli, engine):
    cli("--as", "ann", "credits", "grant", "acme", "1", "--idempotency-key", "a")
    cli("--as", "ben", "credits", "grant", "acme", "2", "--idempotency-key", "b")
    cli("--as", "ben", "orgs", "create", "other")
    rows = json.loads(cli("audit", "--actor", "ben", "--json"))
    assert [r["action"] for r in rows] == ["organization.create", "credits.grant"]
    assert (
        json.loads(cli("audit", "--action", "credits.grant", "--limit", "1", "--json"))[0]["actor"] == "ben"
    )
    assert len(json.loads(cli("audit", "--organization", "acme", "--json"))) == 2
    table = cli("audit")
    assert "cli:ann" in table and "credits.grant" in table


def test_a_webhook_replay_is_audited_once_per_row_it_applies(cli, engine):
    row = deliver(engine, "stripe", "evt_audit_1", {"id": "evt_audit_1", "type": "customer.created"})
    assert f"inbox row {row}: ignored" in cli("--as", "ops-bob", "webhooks", "replay", str(row))
    [replayed] = audit_events(engine, "webhooks.replay")
    assert (replayed["actor"], replayed["target_id"], replayed["details"]) == (
        "ops-bob",
        str(row),
        {"status": "ignored"},
    )
