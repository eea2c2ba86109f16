"""`billing admins create|list|revoke` (admin keys) and `billing audit` (reading the audit log).

The CLI writes to the database directly, so whoever runs it acts as an owner; what they do is
audited under `--as NAME` or their OS user."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from sqlalchemy import Connection

from billing_cli.context import CommandContext, parse_time, utcnow
from billing_cli.output import table, to_json
from billing_core import audit
from billing_core.access.admin_keys import (
    AdminKey,
    NewAdminKey,
    create_admin_key,
    list_admin_keys,
    revoke_admin_key,
)
from billing_core.access.roles import ROLES
from billing_core.queries.audit_events import audit_page


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    admins = sub.add_parser("admins", help="admin keys").add_subparsers(dest="admins_cmd", required=True)
    create = admins.add_parser("create", help="create an admin key; the whole key is printed this once")
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=admins_create)
    listing = admins.add_parser("list", help="every admin key (prefixes only)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=admins_list)
    revoke = admins.add_parser("revoke", help="revoke an admin key at once (by name or id)")
    revoke.add_argument("key", help="the name of an active key, or a key id")
    revoke.set_defaults(run=admins_revoke)

    log = sub.add_parser("audit", help="the audit log, newest first")
    log.add_argument("--actor")
    log.add_argument("--action", help="e.g. credits.grant")
    log.add_argument("--organization")
    log.add_argument("--since", type=parse_time)
    log.add_argument("--until", type=parse_time)
    log.add_argument("--limit", type=int, default=50)
    log.add_argument("--json", action="store_true")
    log.set_defaults(run=audit_list)


def admins_create(ctx: CommandContext, args: argparse.Namespace) -> int:
    def work(connection: Connection) -> NewAdminKey:
        new = create_admin_key(connection, args.name, args.role, ctx.actor.name, utcnow())
        details = {"name": new.key.name, "role": new.key.role, "prefix": new.key.prefix}
        audit.record(
            connection, ctx.actor, "admin_key.create", target=("admin_key", new.key.id), details=details
        )
        return new

    new = ctx.write(work)
    if args.json:
        print(to_json({**asdict(new.key), "key": new.secret}))
    else:
        print(f"admin key {new.key.id} ({new.key.prefix}) for {new.key.name}, role {new.key.role}")
        print(f"key: {new.secret}")
        print("it is shown only now: hand it to its holder through a secret store")
    return 0


def admins_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    keys = ctx.read(list_admin_keys)
    if args.json:
        print(to_json([asdict(k) for k in keys]))
        return 0
    rows = [
        (
            k.id,
            k.name,
            k.role,
            k.prefix,
            "revoked" if k.revoked_at else "live",
            k.created_by,
            k.last_used_at or "-",
        )
        for k in keys
    ]
    print(table(["id", "name", "role", "prefix", "status", "created by", "last used"], rows))
    return 0


def admins_revoke(ctx: CommandContext, args: argparse.Namespace) -> int:
    which: int | str = int(args.key) if args.key.isdigit() else args.key
    key: AdminKey = ctx.audited_write(
        "admin_key.revoke",
        lambda c: revoke_admin_key(c, which, utcnow()),
        target=lambda k: ("admin_key", k.id),
        details=lambda k: {"name": k.name},
    )
    print(f"admin key {key.id} ({key.name}, {key.prefix}) revoked at {key.revoked_at}")
    return 0


def audit_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        print("error: --limit is between 1 and 10000")
        return 2
    page = ctx.read(
        lambda c: audit_page(
            c,
            limit=args.limit,
            actor=args.actor,
            action=args.action,
            organization=args.organization,
            since=args.since,
            until=args.until,
        )
    )
    if args.json:
        print(to_json([asdict(e) for e in page.events]))
        return 0
    rows = [
        (
            e.id,
            e.occurred_at.isoformat(timespec="seconds"),
            f"{e.actor_kind}:{e.actor}",
            e.action,
            e.organization_id or "",
            f"{e.target_kind}:{e.target_id}" if e.target_kind else "",
            json.dumps(e.details, separators=(",", ":"))[:80],
        )
        for e in page.events
    ]
    print(table(["id", "at", "actor", "action", "organization", "target", "details"], rows))
    return 0
