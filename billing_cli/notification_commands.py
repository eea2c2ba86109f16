"""`billing notifications`: outbound webhook endpoints, their deliveries, and low-balance thresholds."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.notifications import deliveries, endpoints
from billing_core.notifications.events import EVENT_TYPES


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    notes = sub.add_parser("notifications", help="outbound webhooks to the platform")
    cmds = notes.add_subparsers(dest="notifications_cmd", required=True)
    eps = cmds.add_parser("endpoints", help="where notifications go").add_subparsers(
        dest="ep_cmd", required=True
    )
    add = eps.add_parser("add", help="a new endpoint; prints its signing secret once")
    add.add_argument("url")
    add.add_argument("--organization", help="only this organization's events (default: platform-wide)")
    add.add_argument("--events", help="comma-separated types (default all): " + ",".join(EVENT_TYPES))
    add.add_argument("--description", default="")
    add.set_defaults(run=endpoint_add)
    lst = eps.add_parser("list")
    lst.add_argument("--organization")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=endpoint_list)
    for name, handler in (
        ("disable", endpoint_disable),
        ("enable", endpoint_enable),
        ("rotate-secret", rotate),
    ):
        action = eps.add_parser(name)
        action.add_argument("endpoint_id", type=int)
        action.set_defaults(run=handler)
    dels = cmds.add_parser("deliveries", help="recent deliveries and their attempts")
    dels.add_argument("--failed", action="store_true", help="only those that gave up")
    dels.add_argument("--limit", type=int, default=50)
    dels.add_argument("--json", action="store_true")
    dels.set_defaults(run=delivery_list)
    replay = cmds.add_parser("replay", help="send a delivery again")
    replay.add_argument("delivery_id", type=int)
    replay.set_defaults(run=delivery_replay)
    thresholds = cmds.add_parser("thresholds", help="an organization's low-balance thresholds, e.g. 20,5")
    thresholds.add_argument("org_id")
    thresholds.add_argument("percents")
    thresholds.set_defaults(run=set_thresholds)


def endpoint_add(ctx: CommandContext, args: argparse.Namespace) -> int:
    types = [t.strip() for t in args.events.split(",") if t.strip()] if args.events else None
    allow = ctx.settings.notifications_allow_private
    made = ctx.audited_write(
        "notification_endpoint.create",
        lambda c: endpoints.add_endpoint(
            c,
            args.url,
            organization_id=args.organization,
            event_types=types,
            description=args.description,
            allow_private=allow,
        ),
        organization_id=args.organization,
        target=lambda m: ("notification_endpoint", m.endpoint.id),
        details=lambda m: {"url": m.endpoint.url, "events": m.endpoint.event_types},
    )
    print(f"endpoint {made.endpoint.id}: {made.endpoint.url}")
    print(f"signing secret (shown once): {made.secret}")
    return 0


def endpoint_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = ctx.read(lambda c: endpoints.list_endpoints(c, args.organization))
    if args.json:
        print(to_json([asdict(r) for r in rows]))
        return 0
    print(
        table(
            ["id", "organization", "url", "events", "status", "failing since"],
            [
                (
                    r.id,
                    r.organization_id or "(platform)",
                    r.url,
                    ",".join(r.event_types or ["all"]),
                    r.status,
                    r.failing_since or "",
                )
                for r in rows
            ],
        )
    )
    return 0


def endpoint_disable(ctx: CommandContext, args: argparse.Namespace) -> int:
    ctx.audited_write(
        "notification_endpoint.disable",
        lambda c: endpoints.set_enabled(c, args.endpoint_id, False, "disabled by an operator", utcnow()),
        target=lambda _: ("notification_endpoint", args.endpoint_id),
    )
    print(f"endpoint {args.endpoint_id} disabled")
    return 0


def endpoint_enable(ctx: CommandContext, args: argparse.Namespace) -> int:
    ctx.audited_write(
        "notification_endpoint.enable",
        lambda c: endpoints.set_enabled(c, args.endpoint_id, True, None, utcnow()),
        target=lambda _: ("notification_endpoint", args.endpoint_id),
    )
    print(f"endpoint {args.endpoint_id} enabled")
    return 0


def rotate(ctx: CommandContext, args: argparse.Namespace) -> int:
    made = ctx.audited_write(
        "notification_endpoint.rotate_secret",
        lambda c: endpoints.rotate_secret(c, args.endpoint_id, utcnow()),
        target=lambda _: ("notification_endpoint", args.endpoint_id),
    )
    print(f"new signing secret of endpoint {made.endpoint.id} (shown once): {made.secret}")
    return 0


def delivery_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = ctx.read(lambda c: deliveries.list_deliveries(c, failed_only=args.failed, limit=args.limit))
    if args.json:
        print(to_json([asdict(r) for r in rows]))
        return 0
    print(
        table(
            ["id", "type", "organization", "endpoint", "status", "attempts", "last", "next attempt"],
            [
                (
                    r.id,
                    r.event_type,
                    r.organization_id or "",
                    r.endpoint_id,
                    r.status,
                    r.attempts,
                    r.last_error or r.last_status_code or "",
                    r.next_attempt_at if r.status == "pending" else "",
                )
                for r in rows
            ],
        )
    )
    return 0


def delivery_replay(ctx: CommandContext, args: argparse.Namespace) -> int:
    ctx.write(lambda c: deliveries.replay(c, args.delivery_id, utcnow()))
    print(f"delivery {args.delivery_id} will be sent again")
    return 0


def set_thresholds(ctx: CommandContext, args: argparse.Namespace) -> int:
    try:
        percents = [int(p) for p in args.percents.split(",")]
    except ValueError:
        print("error: thresholds are whole percentages, e.g. 20,5")
        return 2
    values = ctx.audited_write(
        "balance_alerts.set",
        lambda c: endpoints.set_alert_thresholds(c, args.org_id, percents),
        organization_id=args.org_id,
        details=lambda v: {"thresholds": v},
    )
    print(f"{args.org_id}: balance.low at {', '.join(f'{v}%' for v in values)} of the period's allocation")
    return 0
