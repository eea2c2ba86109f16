"""End-to-end fixtures: environment for `billing` processes pointed at this test's database and queues."""

from __future__ import annotations

import os

import pytest

from tests.conftest import BROKER_URL


@pytest.fixture
def process_env(database_url: str, queue_prefix: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BROKER_URL": BROKER_URL,
        "BILLING_QUEUE_PREFIX": queue_prefix,
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    return env
