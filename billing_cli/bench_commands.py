"""`billing bench pipeline`: the throughput benchmark (see bench/)."""

from __future__ import annotations

import argparse
import sys

from billing_cli.context import CommandContext


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_cmd", required=True)
    pipeline = bench.add_parser("pipeline", help="publish events through RabbitMQ to workers; print figures")
    pipeline.add_argument("--events", type=int, default=100_000)
    pipeline.add_argument("--orgs", type=int, default=1000)
    pipeline.add_argument("--batch", type=int, default=100, help="events per message")
    pipeline.add_argument("--workers", type=int, default=2, help="worker processes")
    pipeline.add_argument("--threads", type=int, default=8, help="threads per worker process")
    pipeline.add_argument("--json", action="store_true", help="print only the JSON line")
    pipeline.set_defaults(run=bench_pipeline)


def bench_pipeline(ctx: CommandContext, args: argparse.Namespace) -> int:
    from bench.pipeline import BenchConfig, main

    settings = ctx.settings
    if not settings.database_url or not settings.broker_url:
        print(
            "error: the benchmark needs DATABASE_URL (a role that may create databases) and BROKER_URL",
            file=sys.stderr,
        )
        return 2
    config = BenchConfig(
        args.events,
        args.orgs,
        args.batch,
        args.workers,
        args.threads,
        settings.database_url,
        settings.broker_url,
    )
    return main(config, args.json)
