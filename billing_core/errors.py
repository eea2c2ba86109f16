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


class NotYet(BillingError):
    """Raised when an event needs state that another event has not created yet: retry it later."""


class EventWaiting(NotYet):
    """NotYet, about a stored provider event: which provider and event type wait."""

    def __init__(self, reason: str, provider: str, event_type: str) -> None:
        super().__init__(reason)
        self.provider = provider
        self.event_type = event_type


class UnknownPlan(BillingError):
    """Raised when a plan code names no plan."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown plan {code!r}")
        self.code = code


class UnknownApiKey(BillingError):
    """Raised when an operation names an API key that the organization does not have."""

    def __init__(self, key_id: int) -> None:
        super().__init__(f"unknown API key {key_id}")
        self.key_id = key_id


class UnknownAdminKey(BillingError):
    """Raised when an operation names an admin key (by id or name) that does not exist."""

    def __init__(self, key: int | str) -> None:
        super().__init__(f"unknown admin key {key!r}")
        self.key = key


class AdminKeyNameTaken(BillingError):
    """Raised when an admin key is created under the name of a key that is not revoked."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an admin key named {name!r} is already active")
        self.name = name


class PaymentProviderError(BillingError):
    """Raised when a payment provider refuses a call or cannot be reached."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderNotConfigured(BillingError):
    """Raised when a payment provider is asked for but its API keys are not set."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"payment provider {provider!r} is not configured on this server")
        self.provider = provider


class NotSupportedByProvider(BillingError):
    """Raised when a provider has no equivalent of an operation (e.g. a Recurrente billing portal)."""

    def __init__(self, provider: str, operation: str) -> None:
        super().__init__(f"{provider} does not support {operation}")
        self.provider = provider
        self.operation = operation


class PlanNotOffered(BillingError):
    """Raised when a plan has no price or product id at the provider for the billing interval."""

    def __init__(self, provider: str, plan_code: str, interval: str) -> None:
        super().__init__(f"plan {plan_code!r} has no {provider} price for the {interval}ly interval")
        self.provider = provider


class PlanLimitReached(BillingError):
    """Raised when an operation would go past a limit of a plan (`limit_name`: what is counted)."""

    def __init__(self, plan_code: str, limit_name: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.plan_code = plan_code
        self.limit_name = limit_name
        self.limit = limit


class AgentLimitReached(PlanLimitReached):
    """Raised when an organization already has as many agents as its plan allows."""

    def __init__(self, organization_id: str, plan_code: str, limit: int) -> None:
        super().__init__(
            plan_code,
            "agents",
            limit,
            f"organization {organization_id!r} is on plan {plan_code!r}, which allows at most "
            f"{limit} agents; upgrade the plan to add more",
        )
        self.organization_id = organization_id


class OrganizationLimitReached(PlanLimitReached):
    """Raised when an owner already has as many organizations as their best plan allows."""

    def __init__(self, owner_user_id: str, plan_code: str, limit: int) -> None:
        super().__init__(
            plan_code,
            "organizations",
            limit,
            f"owner {owner_user_id!r} has plan {plan_code!r} at best, which allows at most {limit} "
            "organizations; upgrade a plan to add more",
        )
        self.owner_user_id = owner_user_id


class InvalidTransition(BillingError):
    """Raised when a subscription event does not apply to the subscription's current state."""

    def __init__(self, event: str, status: str) -> None:
        super().__init__(f"cannot {event} a subscription that is {status}")
        self.event = event
        self.status = status


class UnknownSubscription(BillingError):
    """Raised when a subscription (by id, provider id or organization) does not exist."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no subscription {what}")
        self.what = what


class UnknownInboxRow(BillingError):
    """Raised when a webhook job names an inbox row that does not exist."""

    def __init__(self, row_id: int) -> None:
        super().__init__(f"no inbox row {row_id}")
        self.row_id = row_id


class SchemaMissing(BillingError):
    """Raised when the database lacks what migrations create (run `billing migrate`)."""


class AlreadySubscribed(BillingError):
    """Raised when a checkout is asked for an organization that already has a live subscription."""

    def __init__(self, organization_id: str) -> None:
        super().__init__(f"organization {organization_id!r} has a live subscription; change it instead")
        self.organization_id = organization_id


class FreePlan(BillingError):
    """Raised when a checkout is asked for a plan that costs nothing (there is nothing to pay)."""

    def __init__(self, plan_code: str) -> None:
        super().__init__(f"plan {plan_code!r} is free")
        self.plan_code = plan_code


class UnknownEndpoint(BillingError):
    """Raised when an operation names a notification endpoint that does not exist (or not yours)."""

    def __init__(self, endpoint_id: int) -> None:
        super().__init__(f"unknown notification endpoint {endpoint_id}")
        self.endpoint_id = endpoint_id


class UnknownDelivery(BillingError):
    """Raised when an operation names a notification delivery that does not exist."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"unknown notification delivery {delivery_id}")
        self.delivery_id = delivery_id


class InsufficientCredits(BillingError):
    """Raised when a hold asks for more than the organization has available (balance − holds)."""

    def __init__(self, available: int, required: int) -> None:
        super().__init__("the available balance does not cover this")
        self.available = available
        self.required = required


class BudgetExceeded(BillingError):
    """Raised when a hold (or a check) would take a hard budget past its limit."""

    def __init__(self, budget: object) -> None:
        super().__init__("a budget does not cover this")
        self.budget = budget  # a billing_core.spend.budgets.BudgetStatus


class UnknownBudget(BillingError):
    """Raised when an operation names a budget the organization does not have."""

    def __init__(self, budget_id: int) -> None:
        super().__init__(f"unknown budget {budget_id}")
        self.budget_id = budget_id


class UnknownHold(BillingError):
    """Raised when an operation names a credit hold the organization does not have."""

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"unknown credit hold {hold_id}")
        self.hold_id = hold_id


class UnknownPack(BillingError):
    """Raised when a credit pack code names no pack."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown credit pack {code!r}")
        self.code = code


class PackNotOffered(BillingError):
    """Raised when a credit pack exists but cannot be bought (it was withdrawn from sale)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"credit pack {code!r} is not on sale")
        self.code = code


class UnapplicableEvent(BillingError):
    """Raised when a provider event can never apply as it is (a price no plan has, no organization):
    it is parked at once as a rejected inbox row with its `reason`, not retried."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
