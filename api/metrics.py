"""The API's own metrics (the request histogram is telemetry.http's, shared with the receiver)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from telemetry.http import HttpMetrics


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, http: HttpMetrics | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.http = http or HttpMetrics(self.registry)
        self.balance_checks = Counter(
            "billing_balance_checks",
            "Check-balance answers: sufficient (200), insufficient or budget_exceeded (402).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("sufficient", "insufficient", "budget_exceeded"):
            self.balance_checks.labels(outcome)
