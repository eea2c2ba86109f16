"""The notifications a platform can receive, and what each one says (docs/notifications.md)."""

from __future__ import annotations

BALANCE_LOW = "balance.low"  # the balance crossed below a threshold of the period's allocation
BALANCE_EXHAUSTED = "balance.exhausted"  # the balance reached zero or went below
BALANCE_RECOVERED = "balance.recovered"  # a grant took it back above the highest threshold
CREDITS_GRANTED = "credits.granted"  # subscription, bonus, purchase or refund credits added
SUBSCRIPTION_ACTIVATED = "subscription.activated"
SUBSCRIPTION_CHANGED = "subscription.changed"
SUBSCRIPTION_CANCELED = "subscription.canceled"
SUBSCRIPTION_RENEWED = "subscription.renewed"
SUBSCRIPTION_PAST_DUE = "subscription.past_due"
PURCHASE_SUCCEEDED = "purchase.succeeded"
PURCHASE_FAILED = "purchase.failed"
BUDGET_THRESHOLD = "budget.threshold"
BUDGET_EXCEEDED = "budget.exceeded"
USAGE_REJECTED = "usage.rejected"  # platform-wide endpoints only
ENDPOINT_DISABLED = "endpoint.disabled"  # platform-wide endpoints only: an endpoint kept failing

EVENT_TYPES = (
    BALANCE_LOW,
    BALANCE_EXHAUSTED,
    BALANCE_RECOVERED,
    CREDITS_GRANTED,
    SUBSCRIPTION_ACTIVATED,
    SUBSCRIPTION_CHANGED,
    SUBSCRIPTION_CANCELED,
    SUBSCRIPTION_RENEWED,
    SUBSCRIPTION_PAST_DUE,
    PURCHASE_SUCCEEDED,
    PURCHASE_FAILED,
    BUDGET_THRESHOLD,
    BUDGET_EXCEEDED,
    USAGE_REJECTED,
    ENDPOINT_DISABLED,
)
PLATFORM_ONLY = frozenset({USAGE_REJECTED, ENDPOINT_DISABLED})
