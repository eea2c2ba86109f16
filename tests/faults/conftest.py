"""The fault scenarios of `billing chaos` at a CI size, on private PostgreSQL and RabbitMQ
instances started once for the session (the shared services are never restarted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.outcome import Outcome
from chaos.runner import run_scenario
from chaos.stage import Services, private_services

EVENTS = 1000  # per usage stream: big enough for kills to land mid-stream, small enough for CI


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with private_services(Path(tmp_path_factory.mktemp("chaos-logs"))) as started:
        yield started


def assert_clean(row: Outcome) -> None:
    """Nothing lost, nothing doubled, no unexpected rejection, and reconcile agrees."""
    assert row.sent > 0 and row.charged_once == row.sent, row
    assert (row.lost, row.charged_twice, row.rejected_unexpected) == (0, 0, 0), row
    assert row.reconcile == "ok", row


@pytest.fixture
def scenario(services: Services):  # type: ignore[no-untyped-def]
    def run(name: str, events: int = EVENTS) -> Outcome:
        row = run_scenario(services, name, events)
        assert_clean(row)
        return row

    return run
