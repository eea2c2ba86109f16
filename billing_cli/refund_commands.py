"""`billing refunds create`: an admin refund of one interaction's debit."""

from __future__ import annotations

import argparse

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import credits
from billing_core.ledger.refund_requests import refund_interaction


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    refunds = sub.add_parser("refunds", help="refunds").add_subparsers(dest="refunds_cmd", required=True)
    create = refunds.add_parser("create", help="refund what an interaction was charged (at most once)")
    create.add_argument("org_id")
    create.add_argument("event_id", help="the message-completed event id that was charged")
    create.add_argument("--reason", required=True)
    create.set_defaults(run=refunds_create)


def refunds_create(ctx: CommandContext, args: argparse.Namespace) -> int:
    org, event_id, reason, now = args.org_id, args.event_id, args.reason, utcnow()
    result = ctx.write(lambda c: refund_interaction(c, org, event_id, reason, now, actor=ctx.actor))
    amount = credits(result.amount)
    if result.created:
        print(f"refunded {amount} credits for {args.event_id}; balance {credits(result.balance)}")
    else:
        print(f"{args.event_id} was already refunded ({amount} credits); nothing changed")
    return 0
