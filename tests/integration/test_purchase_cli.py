"""`billing packs`, `billing purchases` and `billing auto-recharge` as an operator runs them."""

from __future__ import annotations

import json

from tests.support.ledger import create_org
from tests.support.processes import billing


def test_an_operator_sets_packs_lists_them_and_turns_auto_recharge_on_and_off(database_url, engine):
    url = database_url
    created = billing(
        url, "packs", "set", "starter", "--credits", "250", "--price", "2000", "--stripe-price", "price_s"
    )
    assert "created pack starter: 250.000000 credits for 20.00 USD" in created.stdout
    billing(
        url,
        "packs",
        "set",
        "gt",
        "--credits",
        "12.5",
        "--price",
        "9900",
        "--currency",
        "gtq",
        "--expires-after-days",
        "90",
    )
    refused = billing(url, "packs", "set", "half", "--credits", "5", check=False)
    assert refused.returncode == 2 and "price_cents: is required for a new pack" in refused.stderr
    packs = json.loads(billing(url, "packs", "list", "--json").stdout)
    assert [
        (p["code"], p["credits"], p["price_cents"], p["currency"], p["expires_after_days"]) for p in packs
    ] == [
        ("starter", "250.000000", 2_000, "USD", None),
        ("gt", "12.500000", 9_900, "GTQ", 90),
    ]
    billing(url, "packs", "set", "gt", "--no-active")
    assert [p["code"] for p in json.loads(billing(url, "packs", "list", "--json").stdout)] == ["starter"]
    assert "gt" in billing(url, "packs", "list", "--all").stdout

    create_org(engine, "acme")
    below = billing(
        url,
        "auto-recharge",
        "set",
        "acme",
        "--threshold",
        "50",
        "--pack",
        "starter",
        "--monthly-cap-cents",
        "100",
        check=False,
    )
    assert below.returncode == 2 and "below the price" in below.stderr
    on = billing(
        url,
        "auto-recharge",
        "set",
        "acme",
        "--threshold",
        "50",
        "--pack",
        "starter",
        "--monthly-cap-cents",
        "6000",
    )
    assert "auto-recharge on for acme" in on.stdout
    shown = json.loads(billing(url, "auto-recharge", "show", "acme", "--json").stdout)
    assert shown == {
        "organization_id": "acme",
        "enabled": True,
        "threshold": "50.000000",
        "pack": "starter",
        "monthly_cap_cents": 6_000,
        "saved_payment_method": False,
    }
    billing(url, "auto-recharge", "off", "acme")
    assert json.loads(billing(url, "auto-recharge", "show", "acme", "--json").stdout)["enabled"] is False
    assert json.loads(billing(url, "purchases", "list", "acme", "--json").stdout) == []
