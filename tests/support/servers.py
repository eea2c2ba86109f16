"""The PostgreSQL and RabbitMQ the tests run against (TEST_DATABASE_URL and TEST_BROKER_URL override
them), and the administrative statements the database fixtures send to that PostgreSQL."""

from __future__ import annotations

import os

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def url_for(dbname: str) -> str:
    """The URL of database `dbname` on the server of ADMIN_URL."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def admin(sql: str) -> None:
    """Run one statement on the admin database, outside a transaction (CREATE/DROP DATABASE)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]
