"""`billing chaos [--scenario NAME|all] [--events N] [--json]`: fault scenarios against the real
processes on private PostgreSQL and RabbitMQ instances (see chaos/ and docs/reliability.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from billing_cli.context import CommandContext


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    chaos = sub.add_parser("chaos", help="kill and restart processes and services; check every event once")
    chaos.add_argument("--scenario", default="all", help="a scenario name (a comma list), or all (default)")
    chaos.add_argument("--events", type=int, default=20_000, help="size of the usage streams")
    chaos.add_argument("--logs", type=Path, help="keep the processes' logs here (default: a temp dir)")
    chaos.add_argument("--json", action="store_true", help="one JSON line per scenario")
    chaos.set_defaults(run=chaos_cmd)


def chaos_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    from chaos.runner import SCENARIOS, main

    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or args.events < 20:
        print(
            f"error: unknown scenario {unknown} (known: {', '.join(SCENARIOS)}) or --events < 20",
            file=sys.stderr,
        )
        return 2
    return main(names, args.events, args.json, args.logs)
