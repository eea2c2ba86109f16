"""The error hierarchy of the billing domain. HTTP status mapping lives in api/ and webhooks/."""

from __future__ import annotations


class BillingError(Exception):
    """Base class of every error the billing domain raises on purpose."""


class InvalidInput(BillingError):
    """Raised when a value given to the domain is malformed; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnknownModel(BillingError):
    """Raised when a usage event names a model with no price in effect at its time."""

    def __init__(self, model: str) -> None:
        super().__init__(f"no price for model {model!r} at the event's time")
        self.model = model


class UnknownTool(BillingError):
    """Raised when a usage event names a tool with no price in effect at its time."""

    def __init__(self, tool: str) -> None:
        super().__init__(f"no price for tool {tool!r} at the event's time")
        self.tool = tool


class UnknownOrganization(BillingError):
    """Raised when an operation names an organization that does not exist."""

    def __init__(self, organization_id: str) -> None:
        super().__init__(f"unknown organization {organization_id!r}")
        self.organization_id = organization_id


class IdempotencyConflict(BillingError):
    """Raised when an idempotency key is reused with a different payload."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different payload")
        self.key = key


class NothingToRefund(BillingError):
    """Raised when a refund names an event that has no usage debit (yet)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no usage debit recorded for event {event_id!r}")
        self.event_id = event_id


class RetryableConflict(BillingError):
    """Raised when a concurrent writer won a race; the whole transaction should be run again."""
