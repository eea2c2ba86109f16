"""The receiver's metrics (the request histogram is telemetry.http's, shared with the API)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from telemetry.http import HttpMetrics

PROVIDERS = ("stripe", "recurrente")
# accepted: verified and stored; duplicate: verified, already stored; refused: not verified (bad or
# missing signature, stale timestamp, not JSON); disabled: the provider's secret is not set.
OUTCOMES = ("accepted", "duplicate", "refused", "disabled")


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, http: HttpMetrics | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.http = http or HttpMetrics(self.registry)
        self.deliveries = Counter(
            "billing_webhook_deliveries",
            "Webhook deliveries received, by provider and verification outcome.",
            ["provider", "outcome"],
            registry=self.registry,
        )
        for provider in PROVIDERS:
            for outcome in OUTCOMES:
                self.deliveries.labels(provider, outcome)
