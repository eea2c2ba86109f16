"""Admin operations: organizations, agents, bonus credits, API keys, plans, rejected events."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from sqlalchemy import Connection

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api import present
from api.actors import current_actor
from api.auth import admin_required, level_access
from api.errors import api_error
from api.runtime import now, read, write
from api.schemas_in import (
    AgentIn,
    ApiKeyIn,
    CreditsIn,
    IdempotencyHeader,
    OrganizationIn,
    RefundIn,
    RejectedQuery,
    ReplayIn,
)
from api.schemas_out import (
    AgentOut,
    ApiKeyOut,
    ApiKeysOut,
    GrantOut,
    NewApiKeyOut,
    OrganizationOut,
    PlansOut,
    RefundOut,
    RejectedEventsOut,
    ReplayOut,
)
from billing_core import audit
from billing_core.access import roles
from billing_core.access.api_keys import ApiKey, NewApiKey, create_api_key, list_api_keys, revoke_api_key
from billing_core.access.service_keys import READ
from billing_core.errors import UnknownApiKey
from billing_core.ledger.accounts import create_organization
from billing_core.ledger.bonus_grants import grant_bonus
from billing_core.ledger.refund_requests import refund_interaction
from billing_core.ledger.refunds import RefundResult, refund_key
from billing_core.money import credits_to_micros, micros_to_text
from billing_core.plans.plans import AgentResult, create_agent, create_owned_organization, list_plans
from billing_core.queries.organizations import Organization, get_organization
from billing_core.queries.transactions import TransactionRow, transaction_by_key
from billing_core.usage import rejections
from billing_core.usage.replay import ReplayResult, replay_rejected_usage

bp = APIBlueprint("admin", __name__, url_prefix="/v1", tag="Admin")
ORG = "/organizations/<org>"
# Creations that answer 200 with the existing resource when it already exists (201 otherwise).
IDEMPOTENT_CREATES = {("/v1/organizations", "post"), ("/v1/organizations/{org}/agents", "post")}


@bp.post("/organizations")
@admin_required(roles.BILLING)
@bp.doc(responses={403: "The owner's plan allows no more organizations"})
@bp.input(OrganizationIn, location="json", arg_name="body")
@bp.output(OrganizationOut, status_code=201)
def create_organization_view(body: OrganizationIn) -> Any:
    """Create an organization with a zero balance (200 with it, unchanged, if it exists)."""

    actor = current_actor()

    def work(connection: Connection) -> tuple[bool, Organization]:
        if body.owner_user_id is None:
            created = create_organization(connection, body.id, body.name)
        else:
            created = create_owned_organization(connection, body.id, body.name, body.owner_user_id)
        if created:
            details = {"name": body.name, "owner_user_id": body.owner_user_id}
            audit.record(connection, actor, "organization.create", organization_id=body.id, details=details)
        return created, get_organization(connection, body.id)

    created, org = write(work)
    return {"id": org.id, "name": org.name, "created_at": org.created_at, "created": created}, (
        201 if created else 200
    )


@bp.post(f"{ORG}/agents")
@admin_required(roles.BILLING)
@bp.input(AgentIn, location="json", arg_name="body")
@bp.output(AgentOut, status_code=201)
@bp.doc(responses={403: "Not the admin, or the plan's maximum number of agents is reached"})
def create_agent_view(org: str, body: AgentIn) -> Any:
    """Register an agent of the organization; refused (403 plan_limit_reached) past the plan's limit."""
    actor = current_actor()

    def work(connection: Connection) -> AgentResult:
        result = create_agent(connection, org, body.id, body.name)
        if result.created:
            audit.record(connection, actor, "agent.create", organization_id=org, target=("agent", body.id))
        return result

    result = write(work)
    return {
        "organization_id": result.organization_id,
        "id": result.agent_id,
        "name": result.name,
        "created": result.created,
        "agents": result.agents,
        "max_agents": result.max_agents,
    }, 201 if result.created else 200


@bp.get("/plans")
@level_access("enterprise", admin=roles.READ, service_scope=READ)
@bp.output(PlansOut)
def get_plans() -> Any:
    """Every plan: monthly credits, limits, API access level, support level and price."""
    return {"data": [present.plan(p) for p in read(list_plans)]}


@bp.post(f"{ORG}/credits")
@admin_required(roles.BILLING)
@bp.input(IdempotencyHeader, location="headers", arg_name="headers")
@bp.input(CreditsIn, location="json", arg_name="body")
@bp.output(GrantOut, status_code=201)
@bp.doc(responses={409: "The Idempotency-Key was used before with a different request"})
def grant_credits_view(org: str, headers: IdempotencyHeader, body: CreditsIn) -> Any:
    """Grant bonus credits, once per `Idempotency-Key` (per organization).

    Repeating the request with the same key returns the first answer (status and body) and
    grants nothing more; the same key with a different body is a 409."""
    amount = credits_to_micros(body.credits)
    if amount <= 0:
        raise api_error(400, "validation_error", "credits: a grant must be positive", field="credits")
    key = headers.idempotency_key
    actor = current_actor()

    result = write(
        lambda c: grant_bonus(
            c, org, key, amount, now(), description=body.description, expires_at=body.expires_at, actor=actor
        )
    )
    response = {
        "transaction": present.transaction(result.transaction),
        "grant_id": result.grant_id,
        "expires_at": result.expires_at,
    }
    return response, 201, {"Idempotent-Replayed": "true" if result.replayed else "false"}


@bp.post(f"{ORG}/refunds")
@admin_required(roles.BILLING)
@bp.input(IdempotencyHeader, location="headers", arg_name="headers")
@bp.input(RefundIn, location="json", arg_name="body")
@bp.output(RefundOut, status_code=201)
@bp.doc(responses={404: "No debit of this organization for that event", 409: "Idempotency-Key reused"})
def refund_view(org: str, headers: IdempotencyHeader, body: RefundIn) -> Any:
    """Refund what an interaction was charged, to the grants that paid it (once per interaction).

    Repeating the request with the same key answers the same refund again; the same key with
    another event or reason is a 409."""
    key = headers.idempotency_key
    actor = current_actor()

    def work(connection: Connection) -> tuple[RefundResult, TransactionRow | None]:
        result = refund_interaction(
            connection, org, body.event_id, body.reason, now(), idempotency_key=key, actor=actor
        )
        return result, transaction_by_key(connection, refund_key(body.event_id))

    result, row = write(work)
    if row is None:  # refund_usage always writes or finds the row
        raise RuntimeError(f"refund of {body.event_id!r} not found after writing it")
    response = {"transaction": present.transaction(row), "balance": micros_to_text(result.balance)}
    return response, 201, {"Idempotent-Replayed": "false" if result.created else "true"}


def _key(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "organization_id": k.organization_id,
        "prefix": k.prefix,
        "name": k.name,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    }


@bp.post(f"{ORG}/api-keys")
@admin_required(roles.BILLING)
@bp.input(ApiKeyIn, location="json", arg_name="body")
@bp.output(NewApiKeyOut, status_code=201)
def create_api_key_view(org: str, body: ApiKeyIn) -> Any:
    """Create an API key for the organization. The whole key is in this response only."""
    actor = current_actor()

    def work(connection: Connection) -> NewApiKey:
        new = create_api_key(connection, org, body.name, now())
        details = {"name": new.key.name, "prefix": new.key.prefix}
        target = ("api_key", new.key.id)
        audit.record(connection, actor, "api_key.create", organization_id=org, target=target, details=details)
        return new

    new = write(work)
    return {**_key(new.key), "key": new.secret}, 201


@bp.get(f"{ORG}/api-keys")
@admin_required(roles.READ)
@bp.output(ApiKeysOut)
def list_api_keys_view(org: str) -> Any:
    """The organization's API keys (prefixes only; a key's secret is never shown again)."""

    def work(connection: Connection) -> list[ApiKey]:
        get_organization(connection, org)  # 404 for an unknown organization
        return list_api_keys(connection, org)

    return {"data": [_key(k) for k in read(work)]}


@bp.delete(f"{ORG}/api-keys/<int:key_id>")
@admin_required(roles.BILLING)
@bp.output(ApiKeyOut)
def revoke_api_key_view(org: str, key_id: int) -> Any:
    """Revoke an API key; it stops working at once. Revoking it again changes nothing."""
    if key_id >= 2**63:
        raise UnknownApiKey(key_id)
    actor = current_actor()

    def work(connection: Connection) -> ApiKey:
        key = revoke_api_key(connection, org, key_id, now())
        details = {"prefix": key.prefix}
        target = ("api_key", key.id)
        audit.record(connection, actor, "api_key.revoke", organization_id=org, target=target, details=details)
        return key

    return _key(write(work))


@bp.get("/events/rejected")
@admin_required(roles.READ)
@bp.input(RejectedQuery, location="query", arg_name="query")
@bp.output(RejectedEventsOut)
def list_rejected_view(query: RejectedQuery) -> Any:
    """Events that could not be applied, with their reason and raw payload (oldest first)."""
    rows = read(
        lambda c: rejections.list_rejected(c, reason=query.reason, status=query.status, limit=query.limit)
    )
    return {"data": [vars(r) for r in rows]}


@bp.post("/events/rejected/replay")
@admin_required(roles.SUPPORT)
@bp.input(ReplayIn, location="json", arg_name="body")
@bp.output(ReplayOut)
def replay_rejected_view(body: ReplayIn) -> Any:
    """Run pending rejected usage events again (e.g. after adding a missing price); each is
    charged at most once. Conflicts are left for a human."""
    actor = current_actor()

    def work(connection: Connection) -> ReplayResult:
        result = replay_rejected_usage(connection, now(), reason=body.reason, limit=body.limit)
        details = {"reason": body.reason, "limit": body.limit, "replayed": result.replayed}
        audit.record(connection, actor, "events.replay", details=details)
        return result

    result = write(work)
    return {"replayed": result.replayed, "charged": result.charged, "still_rejected": result.still_rejected}
