"""Plans and what they entitle an organization to: API access level, agents, monthly credits.

An organization's plan is the plan of its subscription whose status is `active` or `past_due`
(the latest one if there are several); without such a subscription it is on `free`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import Connection, text

from billing_core.errors import (
    AgentLimitReached,
    InvalidInput,
    OrganizationLimitReached,
    SchemaMissing,
)
from billing_core.ledger.accounts import create_organization
from billing_core.queries.organizations import organization_exists, require_organization
from billing_core.subscriptions.calendar import interval_price_cents, yearly_price_cents
from billing_core.subscriptions.state import IN_FORCE_SQL, PlanTerms

FREE_PLAN = "free"
# API access levels, from least to most; a level allows everything the levels before it allow.
ACCESS_LEVELS = ("basic", "full", "enterprise")


@dataclass(frozen=True)
class Plan:
    """A plan as stored: what it grants, its limits, its price and its ids at the providers."""

    code: str
    name: str
    credits_per_month: int  # micro-credits
    max_organizations: int
    max_agents_per_organization: int
    api_access: str
    support_level: str
    monthly_price_cents: int
    currency: str
    rollover: bool
    stripe_price_monthly: str | None
    stripe_price_yearly: str | None
    recurrente_product_monthly: str | None
    recurrente_product_yearly: str | None

    @property
    def yearly_price_cents(self) -> int:
        """12 × monthly × 0.8, exact in cents."""
        return yearly_price_cents(self.monthly_price_cents)

    def price_cents(self, interval: str) -> int:
        return interval_price_cents(self.monthly_price_cents, interval)

    @property
    def terms(self) -> PlanTerms:
        return PlanTerms(self.code, self.credits_per_month, self.monthly_price_cents, self.rollover)


@dataclass(frozen=True)
class Entitlements:
    """What an organization may do now, and how much of it is used."""

    organization_id: str
    plan: Plan
    subscription_status: str | None
    agents: int

    @property
    def agents_remaining(self) -> int:
        return max(self.plan.max_agents_per_organization - self.agents, 0)


def access_allows(granted: str, required: str) -> bool:
    """Whether an API access level includes what `required` needs (basic < full < enterprise)."""
    if granted not in ACCESS_LEVELS or required not in ACCESS_LEVELS:
        return False
    return ACCESS_LEVELS.index(granted) >= ACCESS_LEVELS.index(required)


def agent_limit_allows(plan: Plan, current_agents: int) -> bool:
    """Whether one more agent fits in the plan."""
    return current_agents < plan.max_agents_per_organization


_COLUMNS = ", ".join(f"p.{f.name}" for f in fields(Plan))

# The organization's subscription in force, if any: the one whose period ends last.
IN_FORCE_SUBSCRIPTION_SQL = (
    "SELECT s.plan_code, s.status FROM subscriptions s WHERE s.organization_id = :org "  # noqa: S608
    f"AND s.status IN {IN_FORCE_SQL} "
    "ORDER BY s.current_period_end DESC NULLS LAST, s.id DESC LIMIT 1"
)


def list_plans(connection: Connection) -> list[Plan]:
    rows = connection.execute(
        text(f"SELECT {_COLUMNS} FROM plans p ORDER BY p.monthly_price_cents, p.code")  # noqa: S608
    )
    return [Plan(*row) for row in rows]


def organization_plan(connection: Connection, organization_id: str) -> tuple[Plan, str | None]:
    """The organization's plan and the status of the subscription that gives it (None on free)."""
    row = connection.execute(
        text(
            f"WITH live AS ({IN_FORCE_SUBSCRIPTION_SQL}) "  # noqa: S608
            f"SELECT {_COLUMNS}, (SELECT status FROM live) FROM plans p "
            "WHERE p.code = COALESCE((SELECT plan_code FROM live), :free)"
        ),
        {"org": organization_id, "free": FREE_PLAN},
    ).first()
    if row is None:
        raise SchemaMissing(f"plan {FREE_PLAN!r} is missing: run `billing migrate`")
    count = len(fields(Plan))
    return Plan(*row[:count]), row[count]


def _count_agents(connection: Connection, organization_id: str) -> int:
    count: int = connection.execute(
        text("SELECT count(*) FROM agents WHERE organization_id = :org"), {"org": organization_id}
    ).scalar_one()
    return count


def entitlements(connection: Connection, organization_id: str) -> Entitlements:
    require_organization(connection, organization_id)
    plan, status = organization_plan(connection, organization_id)
    return Entitlements(organization_id, plan, status, _count_agents(connection, organization_id))


@dataclass(frozen=True)
class AgentResult:
    organization_id: str
    agent_id: str
    name: str | None
    created: bool
    agents: int
    max_agents: int


def create_agent(
    connection: Connection, organization_id: str, agent_id: str, name: str | None = None
) -> AgentResult:
    """Register an agent; an existing one is returned as it is. Refused past the plan's limit.

    The organization row is locked so that two concurrent creations cannot both take the last slot."""
    if not agent_id or len(agent_id) > 200 or agent_id.strip() != agent_id:
        raise InvalidInput("id", "must be 1-200 characters without surrounding spaces")
    require_organization(connection, organization_id, lock=True)
    plan, _ = organization_plan(connection, organization_id)
    existing = connection.execute(
        text("SELECT name FROM agents WHERE organization_id = :org AND id = :id"),
        {"org": organization_id, "id": agent_id},
    ).first()
    count = _count_agents(connection, organization_id)
    if existing is not None:
        return AgentResult(
            organization_id, agent_id, existing[0], False, count, plan.max_agents_per_organization
        )
    if not agent_limit_allows(plan, count):
        raise AgentLimitReached(organization_id, plan.code, plan.max_agents_per_organization)
    connection.execute(
        text("INSERT INTO agents (organization_id, id, name) VALUES (:org, :id, :name)"),
        {"org": organization_id, "id": agent_id, "name": name},
    )
    return AgentResult(organization_id, agent_id, name, True, count + 1, plan.max_agents_per_organization)


def owner_plan(connection: Connection, owner_user_id: str) -> Plan:
    """The plan with the most organizations among the owner's live subscriptions (free without)."""
    row = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM plans p WHERE p.code = :free OR p.code IN ("  # noqa: S608
            "SELECT s.plan_code FROM subscriptions s JOIN organizations o ON o.id = s.organization_id "
            f"WHERE o.owner_user_id = :owner AND s.status IN {IN_FORCE_SQL}) "
            "ORDER BY p.max_organizations DESC, p.monthly_price_cents DESC LIMIT 1"
        ),
        {"owner": owner_user_id, "free": FREE_PLAN},
    ).first()
    if row is None:
        raise SchemaMissing(f"plan {FREE_PLAN!r} is missing: run `billing migrate`")
    return Plan(*row)


def create_owned_organization(
    connection: Connection, organization_id: str, name: str | None, owner_user_id: str
) -> bool:
    """Create an organization for an owner, within the owner's plan's `max_organizations`;
    False (and no limit check) if it already exists."""
    # One owner's creations are serialised so that two at once cannot both take the last slot.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": owner_user_id})
    if organization_exists(connection, organization_id):
        return False
    owned: int = connection.execute(
        text("SELECT count(*) FROM organizations WHERE owner_user_id = :owner"), {"owner": owner_user_id}
    ).scalar_one()
    plan = owner_plan(connection, owner_user_id)
    if owned >= plan.max_organizations:
        raise OrganizationLimitReached(owner_user_id, plan.code, plan.max_organizations)
    create_organization(connection, organization_id, name)
    connection.execute(
        text("UPDATE organizations SET owner_user_id = :owner WHERE id = :org"),
        {"owner": owner_user_id, "org": organization_id},
    )
    connection.execute(
        text(
            "INSERT INTO users (organization_id, id, role) VALUES (:org, :owner, 'owner') "
            "ON CONFLICT DO NOTHING"
        ),
        {"org": organization_id, "owner": owner_user_id},
    )
    return True
