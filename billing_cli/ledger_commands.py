"""`billing orgs`, `billing credits`, `billing balance`, `billing transactions`, `billing reconcile`."""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import Connection

from billing_cli.context import CommandContext, parse_time, utcnow
from billing_cli.output import credits, table, to_json
from billing_core import audit
from billing_core.job_runs import RECONCILE, record_run
from billing_core.ledger.accounts import create_organization
from billing_core.ledger.expiry import expire_due_grants
from billing_core.ledger.grants import GrantRequest, GrantResult, grant_credits
from billing_core.ledger.reconcile import reconcile
from billing_core.money import credits_to_micros
from billing_core.plans.plans import create_owned_organization
from billing_core.queries.balance import balance_view
from billing_core.queries.transaction_page import transaction_page


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    orgs = sub.add_parser("orgs", help="manage organizations").add_subparsers(dest="orgs_cmd", required=True)
    create = orgs.add_parser("create", help="create an organization (no-op if it exists)")
    create.add_argument("org_id")
    create.add_argument("--name")
    create.add_argument("--owner", help="owner user id; their best plan's max organizations applies")
    create.set_defaults(run=orgs_create)

    cr = sub.add_parser("credits", help="grant credits").add_subparsers(dest="credits_cmd", required=True)
    grant = cr.add_parser("grant", help="grant credits to an organization, once per idempotency key")
    grant.add_argument("org_id")
    grant.add_argument("credits", help="amount in credits, exact decimal (e.g. 1000 or 12.5)")
    grant.add_argument("--type", choices=["bonus", "subscription_credit"], default="bonus")
    grant.add_argument("--expires-at", type=parse_time)
    grant.add_argument("--effective-at", type=parse_time)
    grant.add_argument("--priority", type=int, default=0, help="lower numbers are drawn first")
    grant.add_argument("--description", default="")
    grant.add_argument("--idempotency-key", required=True)
    grant.set_defaults(run=credits_grant)

    bal = sub.add_parser("balance", help="show an organization's balance")
    bal.add_argument("org_id")
    bal.add_argument("--json", action="store_true")
    bal.set_defaults(run=balance)

    tx = sub.add_parser("transactions", help="show an organization's transactions, newest first")
    tx.add_argument("org_id")
    tx.add_argument("--limit", type=int, default=20)
    tx.add_argument("--json", action="store_true")
    tx.set_defaults(run=transactions)

    rec = sub.add_parser("reconcile", help="check every ledger invariant; exit 1 on any violation")
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(run=reconcile_cmd)

    grants = sub.add_parser("grants", help="grant maintenance").add_subparsers(
        dest="grants_cmd", required=True
    )
    expire = grants.add_parser("expire", help="write expirations for grants whose expiry has passed")
    expire.add_argument("--now", type=parse_time)
    expire.set_defaults(run=grants_expire)


def orgs_create(ctx: CommandContext, args: argparse.Namespace) -> int:
    owner = args.owner

    def work(connection: Connection) -> bool:
        if owner:
            created = create_owned_organization(connection, args.org_id, args.name, owner)
        else:
            created = create_organization(connection, args.org_id, args.name)
        if created:
            details = {"name": args.name, "owner_user_id": owner}
            audit.record(
                connection, ctx.actor, "organization.create", organization_id=args.org_id, details=details
            )
        return created

    created = ctx.write(work)
    print(f"organization {args.org_id} {'created' if created else 'already exists'}")
    return 0


def credits_grant(ctx: CommandContext, args: argparse.Namespace) -> int:
    now = utcnow()
    request = GrantRequest(
        organization_id=args.org_id,
        amount=credits_to_micros(args.credits),
        type=args.type,
        idempotency_key=args.idempotency_key,
        effective_at=args.effective_at or now,
        expires_at=args.expires_at,
        priority=args.priority,
        description=args.description or f"{args.type.replace('_', ' ')} granted by an admin",
    )

    def work(connection: Connection) -> GrantResult:
        event_id = audit.reserve_id(connection)  # the ledger row names the event
        result = grant_credits(connection, replace(request, audit_event_id=event_id), now)
        if result.created:
            details = {"credits": credits(request.amount), "type": request.type, "key": args.idempotency_key}
            target = ("transaction", result.transaction_id)
            audit.record(
                connection,
                ctx.actor,
                "credits.grant",
                organization_id=args.org_id,
                target=target,
                details=details,
                now=now,
                event_id=event_id,
            )
        return result

    result = ctx.write(work)
    if result.created:
        print(
            f"granted {credits(request.amount)} credits to {args.org_id}; balance {credits(result.balance)}"
        )
    else:
        print(f"already granted under key {args.idempotency_key!r}; nothing changed")
    return 0


def balance(ctx: CommandContext, args: argparse.Namespace) -> int:
    view = ctx.read(lambda c: balance_view(c, args.org_id, utcnow()))
    data: dict[str, Any] = {
        "organization_id": view.organization_id,
        "balance": credits(view.balance),
        "allocated": credits(view.allocated),
        "used": credits(view.used),
        "remaining_percent": str(view.remaining_percent),
        "overdraft": credits(view.overdraft),
        "period_start": view.period_start,
        "period_end": view.period_end,
        "expiring_soon": [
            {
                "grant_id": g.grant_id,
                "source": g.source,
                "remaining": credits(g.remaining),
                "expires_at": g.expires_at,
            }
            for g in view.expiring_soon
        ],
        "as_of": view.as_of,
    }
    if args.json:
        print(to_json(data))
    else:
        for key in ("balance", "allocated", "used", "remaining_percent", "overdraft", "as_of"):
            print(f"{key:18} {data[key]}")
    return 0


def transactions(ctx: CommandContext, args: argparse.Namespace) -> int:
    page = ctx.read(lambda c: transaction_page(c, args.org_id, limit=args.limit))
    if args.json:
        rows = []
        for r in page.rows:
            row = asdict(r)
            row["amount"] = credits(r.amount)
            row["balance_after"] = credits(r.balance_after)
            row["allocations"] = [{**a, "amount": credits(a["amount"])} for a in r.allocations]
            rows.append(row)
        print(to_json({"data": rows, "next_cursor": page.next_cursor, "has_more": page.has_more}))
    else:
        print(
            table(
                ["id", "date", "type", "amount", "balance", "description"],
                [
                    (
                        r.id,
                        r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                        r.type,
                        credits(r.amount),
                        credits(r.balance_after),
                        r.description,
                    )
                    for r in page.rows
                ],
            )
        )
    return 0


def reconcile_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    violations = ctx.read(lambda c: reconcile(c))
    ctx.write(lambda c: record_run(c, RECONCILE, len(violations)))  # for the alert on a failed reconcile
    if args.json:
        print(to_json({"ok": not violations, "violations": [asdict(v) for v in violations]}))
    elif violations:
        for v in violations:
            print(f"VIOLATION  {v.invariant}: {v.subject}: {v.detail}")
    else:
        print("ledger reconciled: every invariant holds")
    return 1 if violations else 0


def grants_expire(ctx: CommandContext, args: argparse.Namespace) -> int:
    now = args.now or utcnow()
    total = 0
    while (count := ctx.write(lambda c: expire_due_grants(c, now))) > 0:
        total += count
    print(f"expired {total} grants")
    return 0
