"""`billing keys create|list|revoke`: service keys (for agent runtimes and the platform's services)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.access.service_keys import (
    SCOPES,
    create_service_key,
    list_service_keys,
    revoke_service_key,
)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser("keys", help="service keys").add_subparsers(dest="keys_cmd", required=True)
    create = keys.add_parser("create", help="create a service key; the whole key is printed this once")
    create.add_argument(
        "--scope",
        required=True,
        action="append",
        type=_names,
        help=f"comma-separated, repeatable: {', '.join(SCOPES)}",
    )
    create.add_argument("--organizations", type=_names, help="comma-separated allow-list (default: all)")
    create.add_argument("--name", default="")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=keys_create)
    listing = keys.add_parser("list", help="every service key (prefixes only)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=keys_list)
    revoke = keys.add_parser("revoke", help="revoke a service key at once")
    revoke.add_argument("key_id", type=int)
    revoke.set_defaults(run=keys_revoke)


def keys_create(ctx: CommandContext, args: argparse.Namespace) -> int:
    scopes = [scope for group in args.scope for scope in group]
    new = ctx.audited_write(
        "service_key.create",
        lambda c: create_service_key(c, args.name, scopes, utcnow(), args.organizations),
        target=lambda n: ("service_key", n.key.id),
        details=lambda n: {
            "prefix": n.key.prefix,
            "scopes": n.key.scopes,
            "organizations": n.key.organizations,
        },
    )
    if args.json:
        print(to_json({**asdict(new.key), "key": new.secret}))
    else:
        print(f"service key {new.key.id} ({new.key.prefix}), scopes {', '.join(new.key.scopes)}, ", end="")
        print("every organization" if new.key.organizations is None else ", ".join(new.key.organizations))
        print(f"key: {new.secret}")
        print("it is shown only now: keep it in the runtime's secret store")
    return 0


def keys_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    keys = ctx.read(list_service_keys)
    if args.json:
        print(to_json([asdict(k) for k in keys]))
        return 0
    rows = [
        (
            k.id,
            k.prefix,
            k.name,
            ",".join(k.scopes),
            "all" if k.organizations is None else ",".join(k.organizations),
            "revoked" if k.revoked_at else "live",
            k.last_used_at or "-",
        )
        for k in keys
    ]
    print(table(["id", "prefix", "name", "scopes", "organizations", "status", "last used"], rows))
    return 0


def keys_revoke(ctx: CommandContext, args: argparse.Namespace) -> int:
    key = ctx.audited_write(
        "service_key.revoke",
        lambda c: revoke_service_key(c, args.key_id, utcnow()),
        target=lambda k: ("service_key", k.id),
        details=lambda k: {"prefix": k.prefix},
    )
    print(f"service key {key.id} ({key.prefix}) revoked at {key.revoked_at}")
    return 0
