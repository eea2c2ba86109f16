"""Shared fixtures. Integration tests use the real PostgreSQL: a fresh database per test, cloned
from a migrated template. A missing server makes them fail (never skip)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, create_engine

from billing_core.db.engine import normalize_url
from migrations import runner

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url_for(dbname: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A database migrated to head once per test session; each test clones it."""
    name = f"billing_tmpl_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    engine = create_engine(normalize_url(_url_for(name)))
    try:
        runner.upgrade(engine)
    finally:
        engine.dispose()
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield normalize_url(_url_for(name))
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=10, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A database with no schema at all, for migration tests."""
    name = f"billing_empty_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield normalize_url(_url_for(name))
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BROKER_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture
def queue_prefix() -> Iterator[str]:
    """A unique queue prefix per test; its queues are deleted afterwards."""
    from bench.scratch import delete_queues
    from billing_core.settings import Settings

    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    delete_queues(BROKER_URL, Settings(queue_prefix=prefix))


@pytest.fixture
def pipeline_settings(database_url: str, queue_prefix: str):  # type: ignore[no-untyped-def]
    from billing_core.settings import Settings

    return Settings(database_url=database_url, broker_url=BROKER_URL, queue_prefix=queue_prefix)


@pytest.fixture
def workers(pipeline_settings, engine):  # type: ignore[no-untyped-def]
    """Dramatiq workers on the real RabbitMQ, in this process, writing to this test's database."""
    from billing_cli.processes import start_workers

    running = start_workers(pipeline_settings, engine, threads=4)
    yield running
    running.stop()
