"""Driving the HTTP API in tests: the real app (Flask test client) on the test's database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from api.app import create_app
from billing_core.settings import Settings
from tests.support.ledger import committed

ADMIN = "admin-token-for-tests"


class Clock:
    """The time the app acts at, moved by tests (`api.clock.advance(minutes=31)`)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class Api:
    """The app built with explicit settings (and payment providers, if given: by default those the
    settings configure); `token=None` sends no Authorization header. Redirect URLs may name
    app.example.com unless the test says otherwise; `clock` moves the app's time."""

    def __init__(
        self, database_url: str, engine: Engine, *, payments: dict[str, Any] | None = None, **settings: Any
    ) -> None:
        self.engine = engine
        self.clock = Clock()
        config = {
            "database_url": database_url,
            "admin_token": ADMIN,
            "allowed_redirect_hosts": "app.example.com",
            **settings,
        }
        self.app = create_app(Settings(**config), engine=engine, payments=payments, clock=self.clock)
        self.client = self.app.test_client()

    def call(self, method: str, path: str, *, token: str | None = ADMIN, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def create_org(self, org: str) -> None:
        response = self.post("/v1/organizations", json={"id": org})
        assert response.status_code in (200, 201), response.json

    def new_key(self, org: str, name: str = "test") -> dict[str, Any]:
        response = self.post(f"/v1/organizations/{org}/api-keys", json={"name": name})
        assert response.status_code == 201, response.json
        return response.json  # type: ignore[no-any-return]


def routes(app: Any, org: str = "org-a") -> list[tuple[str, str, str]]:
    """(endpoint, method, path to call) of every route of the app's route map, the organization
    set to `org` and the other path parameters filled in (ids that do not exist)."""
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<int:\w+>", "999999", rule.rule.replace("<org>", org))
        path = re.sub(r"<(path:)?\w+>", "x", path)
        found.extend((rule.endpoint, method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return found


def subscribe(engine: Engine, org: str, plan: str, status: str = "active") -> None:
    """Put the organization on a plan through a manual subscription for the current month."""
    manual_subscription(engine, org, plan, started_days_ago=1, status=status)


def manual_subscription(
    engine: Engine,
    org: str,
    plan: str,
    *,
    started_days_ago: int,
    length_days: int = 30,
    interval: str = "month",
    status: str = "active",
) -> datetime:
    """A manual subscription whose period started `started_days_ago` days before now; returns the
    period's start."""
    start = datetime.now(UTC) - timedelta(days=started_days_ago)
    committed(
        engine,
        lambda c: c.execute(
            text(
                "INSERT INTO subscriptions (organization_id, plan_code, billing_interval, status, provider, "
                "current_period_start, current_period_end) VALUES (:org, :plan, :interval, :status, "
                "'manual', :start, :end)"
            ),
            {
                "org": org,
                "plan": plan,
                "interval": interval,
                "status": status,
                "start": start,
                "end": start + timedelta(days=length_days),
            },
        ),
    )
    return start


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a JSON error response (and a check that it is one)."""
    assert response.mimetype == "application/json", response.data[:200]
    body = response.json
    assert set(body) == {"error"}, body
    assert {"type", "message"} <= set(body["error"]), body
    return body["error"]  # type: ignore[no-any-return]
