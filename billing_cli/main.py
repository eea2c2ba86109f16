"""Entry point of the `billing` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import psycopg.errors
from sqlalchemy.exc import ProgrammingError

from billing_cli import (
    admin_commands,
    api_commands,
    bench_commands,
    budget_commands,
    chaos_commands,
    key_commands,
    ledger_commands,
    notification_commands,
    plan_commands,
    price_commands,
    purchase_commands,
    refund_commands,
    scheduler_commands,
    session_commands,
    status_commands,
    up,
    webhook_commands,
    worker_commands,
)
from billing_cli.context import CommandContext
from billing_core.errors import BillingError
from migrations import runner
from telemetry.logs import configure_logging


def migrate(ctx: CommandContext, args: argparse.Namespace) -> int:
    before = runner.current_revision(ctx.engine)
    runner.upgrade(ctx.engine, args.revision)
    after = runner.current_revision(ctx.engine)
    print(f"database at revision {after}" + ("" if before != after else " (already up to date)"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing", description="Credit billing for an AI-agent platform.")
    parser.add_argument(
        "--as", dest="as_user", metavar="NAME", help="who acts, for the audit log (default: the OS user)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    mig = sub.add_parser("migrate", help="bring the database to the latest schema (idempotent)")
    mig.add_argument("--revision", default="head")
    mig.set_defaults(run=migrate)
    ledger_commands.register(sub)
    budget_commands.register(sub)
    notification_commands.register(sub)
    price_commands.register(sub)
    plan_commands.register(sub)
    purchase_commands.register(sub)
    scheduler_commands.register(sub)
    up.register(sub)
    worker_commands.register(sub)
    refund_commands.register(sub)
    webhook_commands.register(sub)
    bench_commands.register(sub)
    chaos_commands.register(sub)
    api_commands.register(sub)
    key_commands.register(sub)
    admin_commands.register(sub)
    session_commands.register(sub)
    status_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = CommandContext(actor_name=args.as_user)
    configure_logging(args.command, ctx.settings.log_format)
    try:
        code: int = args.run(ctx, args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`billing ... | head`): stop quietly. Python's own flush at exit
        # would fail again on the closed pipe, so stdout now points at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except BillingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ProgrammingError as error:
        if isinstance(error.orig, psycopg.errors.UndefinedTable):
            print("error: the database has no billing schema yet: run `billing migrate`", file=sys.stderr)
            return 2
        raise
    finally:
        ctx.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
