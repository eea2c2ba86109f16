"""Fixtures of the console tests: the app with a recording payment provider (`api`), and with the
real Stripe adapter against the local fake of the providers (`stripe_api`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import Api
from tests.support.console import STRIPE_KEY
from tests.support.ledger import create_org, setup_prices
from tests.support.providers import FakeProviders, RecordingProvider, fake_providers
from tests.support.subscriptions import with_stripe_prices


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def api(database_url, engine, provider):
    setup_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine, payments={"stripe": provider})


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with fake_providers() as server:
        yield server


@pytest.fixture
def stripe_api(database_url, engine, fake):
    """The real stripe adapter against the local fake."""
    setup_prices(engine)
    with_stripe_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine, stripe_api_key=STRIPE_KEY, stripe_api_base=fake.url)
