"""`billing bench pipeline|api|http|ingest|webhooks`: the benchmarks (see bench/)."""

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
    pipeline.add_argument(
        "--workers", default="2", help="worker processes; a list (1,2,4) runs the same load with each"
    )
    pipeline.add_argument(
        "--rate", type=float, help="publish steadily at this many events/s (latency at a load)"
    )
    pipeline.add_argument("--threads", type=int, default=64, help="threads per worker process")
    pipeline.add_argument("--budgets", type=int, default=0, help="daily agent budgets per organization")
    pipeline.add_argument("--json", action="store_true", help="print only the JSON line")
    pipeline.set_defaults(run=bench_pipeline)
    api = bench.add_parser("api", help="seed a scratch ledger; time API requests (p50/p99) through the app")
    api.add_argument("--transactions", type=int, default=1_000_000)
    api.add_argument("--orgs", type=int, default=1000)
    api.add_argument("--requests", type=int, default=1000, help="timed requests per endpoint")
    api.add_argument("--json", action="store_true", help="print only the JSON line")
    api.set_defaults(run=bench_api)
    http = bench.add_parser(
        "http", help="drive `billing api` over HTTP with concurrent clients; print figures"
    )
    http.add_argument("--transactions", type=int, default=1_000_000)
    http.add_argument("--orgs", type=int, default=1000)
    http.add_argument("--concurrency", default="16,64", help="keep-alive connections of the throughput runs")
    http.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    http.add_argument("--processes", type=int, default=2, help="server processes (billing api --processes)")
    http.add_argument("--threads", type=int, default=4, help="server threads per process")
    http.add_argument("--keep", metavar="NAME", help="keep the seeded database under this name and reuse it")
    http.add_argument(
        "--pipeline-rate", type=float, help="also measure check-balance while charging R events/s"
    )
    http.add_argument("--json", action="store_true", help="print only the JSON lines")
    http.set_defaults(run=bench_http)
    ingest = bench.add_parser(
        "ingest", help="the same usage over HTTP (POST /v1/events) and over AMQP to workers; print figures"
    )
    ingest.add_argument("--events", type=int, default=100_000)
    ingest.add_argument("--orgs", type=int, default=1000)
    ingest.add_argument(
        "--batch", type=int, default=100, help="events per request (HTTP) and per message (AMQP)"
    )
    ingest.add_argument("--concurrency", type=int, default=8, help="HttpPublisher's concurrent requests")
    ingest.add_argument("--workers", type=int, default=2, help="billing worker processes")
    ingest.add_argument("--api-processes", type=int, default=2, help="billing api processes")
    ingest.add_argument("--json", action="store_true", help="print only the JSON line")
    ingest.set_defaults(run=bench_ingest)
    hooks = bench.add_parser("webhooks", help="signed deliveries against the receiver; then process them all")
    hooks.add_argument("--deliveries", type=int, default=2000)
    hooks.add_argument("--concurrency", type=int, default=8)
    hooks.add_argument("--json", action="store_true", help="print only the JSON line")
    hooks.set_defaults(run=bench_webhooks)


def bench_pipeline(ctx: CommandContext, args: argparse.Namespace) -> int:
    from bench.pipeline import BenchConfig, main

    settings = ctx.settings
    if not settings.database_url or not settings.broker_url:
        print(
            "error: the benchmark needs DATABASE_URL (a role that may create databases) and BROKER_URL",
            file=sys.stderr,
        )
        return 2
    try:
        workers = tuple(int(n) for n in args.workers.split(","))
    except ValueError:
        workers = ()
    if not workers or min(workers) < 1 or (args.rate is not None and args.rate <= 0):
        print("error: --workers takes counts >= 1 (e.g. 1,2,4); --rate must be positive", file=sys.stderr)
        return 2
    config = BenchConfig(
        args.events,
        args.orgs,
        args.batch,
        workers,
        args.threads,
        settings.database_url,
        settings.broker_url,
        args.rate,
        args.budgets,
    )
    return main(config, args.json)


def bench_api(ctx: CommandContext, args: argparse.Namespace) -> int:
    from bench.api import ApiBenchConfig, main

    if not ctx.settings.database_url:
        print("error: the benchmark needs DATABASE_URL (a role that may create databases)", file=sys.stderr)
        return 2
    if args.orgs < 2 or args.transactions < 1 or args.requests < 1:
        print("error: --orgs must be at least 2, --transactions and --requests at least 1", file=sys.stderr)
        return 2
    config = ApiBenchConfig(args.transactions, args.orgs, args.requests, ctx.settings.database_url)
    return main(config, args.json)


def bench_http(ctx: CommandContext, args: argparse.Namespace) -> int:
    from bench.http import HttpBenchConfig, main

    if not ctx.settings.database_url:
        print("error: the benchmark needs DATABASE_URL (a role that may create databases)", file=sys.stderr)
        return 2
    try:
        concurrency = tuple(int(c) for c in args.concurrency.split(","))
    except ValueError:
        concurrency = ()
    if not concurrency or min(concurrency) < 1 or args.orgs < 2 or args.processes < 1:
        print("error: --concurrency takes counts >= 1, --orgs >= 2, --processes >= 1", file=sys.stderr)
        return 2
    config = HttpBenchConfig(
        args.transactions,
        args.orgs,
        concurrency,
        args.duration,
        args.processes,
        args.threads,
        ctx.settings.database_url,
        args.keep,
        ctx.settings.broker_url,
        args.pipeline_rate,
    )
    return main(config, args.json)


def bench_webhooks(ctx: CommandContext, args: argparse.Namespace) -> int:
    from bench.webhooks import WebhookBenchConfig, main

    if not ctx.settings.database_url:
        print("error: the benchmark needs DATABASE_URL (a role that may create databases)", file=sys.stderr)
        return 2
    return main(WebhookBenchConfig(args.deliveries, args.concurrency, ctx.settings.database_url), args.json)


def bench_ingest(ctx: CommandContext, args: argparse.Namespace) -> int:
    from bench.ingest import IngestBenchConfig, main

    settings = ctx.settings
    if not settings.database_url or not settings.broker_url:
        print(
            "error: the benchmark needs DATABASE_URL (a role that may create databases) and BROKER_URL",
            file=sys.stderr,
        )
        return 2
    counts = (args.events, args.orgs, args.concurrency, args.workers, args.api_processes)
    if min(counts) < 1 or not 1 <= args.batch <= 1000:
        print("error: counts must be at least 1, --batch from 1 to 1000", file=sys.stderr)
        return 2
    config = IngestBenchConfig(
        args.events,
        args.orgs,
        args.batch,
        args.concurrency,
        args.workers,
        args.api_processes,
        settings.database_url,
        settings.broker_url,
    )
    return main(config, args.json)
