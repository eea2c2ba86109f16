"""Shared fixtures. Integration tests use the real PostgreSQL: a fresh database per test, cloned
from a migrated template. A missing server makes them fail (never skip)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from bench.scratch import delete_queues, wait_for_queue
from billing_cli.processes import start_workers
from billing_core.db.engine import normalize_url
from billing_core.settings import Settings
from migrations import runner
from tests.support.pipeline import work_queues
from tests.support.servers import BROKER_URL, admin, url_for


def _clear_ambient_settings() -> None:
    """Each test states the settings it runs with: a DATABASE_URL or BROKER_URL exported in the
    developer's shell (as the docs suggest for running the system) must not leak into them."""
    for name, field in Settings.model_fields.items():
        os.environ.pop((field.alias or name).upper(), None)


_clear_ambient_settings()


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A database migrated to head once per test session; each test clones it."""
    name = f"billing_tmpl_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    engine = create_engine(normalize_url(url_for(name)))
    try:
        runner.upgrade(engine)
    finally:
        engine.dispose()
    yield name
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield normalize_url(url_for(name))
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=10, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A database with no schema at all, for migration tests."""
    name = f"billing_empty_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    yield normalize_url(url_for(name))
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def queue_prefix() -> Iterator[str]:
    """A unique queue prefix per test; its queues are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    delete_queues(BROKER_URL, Settings(queue_prefix=prefix))


@pytest.fixture
def pipeline_settings(database_url: str, queue_prefix: str):  # type: ignore[no-untyped-def]
    return Settings(database_url=database_url, broker_url=BROKER_URL, queue_prefix=queue_prefix)


@pytest.fixture
def workers(pipeline_settings, engine):  # type: ignore[no-untyped-def]
    """Dramatiq workers on the real RabbitMQ, in this process, writing to this test's database;
    yielded once their consumers have declared every queue (a raw publish needs the queue)."""
    running = start_workers(pipeline_settings, engine, threads=4)
    for name in work_queues(pipeline_settings.queue_prefix):
        wait_for_queue(BROKER_URL, name)
    yield running
    running.stop()
