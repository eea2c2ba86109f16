"""`billing sessions list|revoke`: the billing console's server-side sessions."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.access.console_sessions import Lifetimes, list_sessions, revoke_sessions


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sessions = sub.add_parser("sessions", help="console sessions").add_subparsers(
        dest="sessions_cmd", required=True
    )
    listing = sessions.add_parser("list", help="live console sessions (most recent first)")
    listing.add_argument("--all", action="store_true", help="ended, idle and expired sessions too")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=sessions_list)
    revoke = sessions.add_parser("revoke", help="end console sessions at once")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("session_id", nargs="?", type=int, help="one session, by id")
    which.add_argument("--organization", help="every session open on this organization")
    which.add_argument("--all", action="store_true", help="every session")
    revoke.set_defaults(run=sessions_revoke)


def _limits(ctx: CommandContext) -> Lifetimes:
    return Lifetimes.of(ctx.settings.console_session_idle_minutes, ctx.settings.console_session_max_hours)


def sessions_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    now, limits = utcnow(), _limits(ctx)
    found = ctx.read(lambda c: list_sessions(c, now, limits, include_ended=args.all))
    if args.json:
        print(to_json([asdict(s) for s in found]))
        return 0
    rows = [
        (
            s.id,
            s.status,
            s.identity_kind,
            s.display_name,
            s.organization_id,
            s.source_address or "-",
            s.created_at,
            s.last_seen_at,
            s.ended_at or "-",
        )
        for s in found
    ]
    headers = ["id", "status", "kind", "who", "organization", "address", "created", "last seen", "ended"]
    print(table(headers, rows))
    return 0


def sessions_revoke(ctx: CommandContext, args: argparse.Namespace) -> int:
    now = utcnow()
    ended = ctx.audited_write(
        "console_session.revoke",
        lambda c: revoke_sessions(
            c, now, session=args.session_id, organization_id=args.organization, every=args.all
        ),
        organization_id=args.organization,
        details=lambda ids: {"sessions": ids},
    )
    print(f"{len(ended)} session(s) ended" + (f": {', '.join(map(str, ended))}" if ended else ""))
    return 0
