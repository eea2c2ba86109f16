"""`billing status [--json]`: one screen for an operator, exit 1 when something needs attention (for
cron or a probe); `billing health PROCESS`: the container health check of a running process."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import table, to_json
from billing_core.queries.backlogs import Backlogs, RecentLag, read_backlogs, recent_usage_lag
from workers.backlog import QueueStat, read_queues

INBOX_STUCK_S = 900  # the scheduler resends pending rows after 5 minutes: three times that is stuck
PROCESSES = {"worker": None, "scheduler": None, "api": 8000, "webhooks": 8001}  # default ports


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    status = sub.add_parser("status", help="queues, lag and backlogs; exit 1 if something needs attention")
    status.add_argument("--json", action="store_true")
    status.add_argument(
        "--max-sweep-age", type=float, default=900.0, help="seconds since the last sweep before it is late"
    )
    status.set_defaults(run=status_cmd)
    health = sub.add_parser("health", help="probe a running process (a container's health check)")
    health.add_argument("process", choices=list(PROCESSES))
    health.add_argument(
        "--port",
        type=int,
        help="worker, scheduler: the metrics port (default BILLING_METRICS_PORT); api 8000, webhooks 8001",
    )
    health.set_defaults(run=health_cmd)


@dataclass
class Status:
    database: str = "ok"
    broker: str = "ok"
    queues: list[QueueStat] = field(default_factory=list)
    backlogs: Backlogs | None = None
    usage_lag: RecentLag | None = None
    attention: list[str] = field(default_factory=list)


def _age(at: datetime | None) -> float | None:
    return None if at is None else (utcnow() - at).total_seconds()


def gather(ctx: CommandContext, max_sweep_age: float) -> Status:
    status = Status()
    try:
        status.backlogs = ctx.read(read_backlogs)
        status.usage_lag = ctx.read(recent_usage_lag)
    except Exception as error:  # any failure to reach or read the database
        status.database = f"unreachable ({type(error).__name__})"  # never the URL: it may hold a password
        status.attention.append("the database cannot be read")
    if not ctx.settings.broker_url:
        status.broker = "not configured"
    else:
        try:
            status.queues = read_queues(ctx.settings)
        except Exception as error:
            status.broker = f"unreachable ({type(error).__name__})"
            status.attention.append("the broker cannot be reached")
    missing = [q.name for q in status.queues if q.ready is None]
    if missing:
        listed = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        status.attention.append(
            f"{len(missing)} queue(s) not declared (has a worker ever started?): {listed}"
        )
    for q in status.queues:
        if q.ready is None:
            continue
        if q.name.endswith(".XQ") and q.ready:
            status.attention.append(f"{q.ready} dead letter(s) in {q.name} (no dead-letter sweep parks them)")
        elif q.ready and not q.consumers:
            status.attention.append(f"{q.ready} message(s) wait in {q.name}, which has no consumer")
    b = status.backlogs
    if b is not None:
        if b.rejected_pending:
            status.attention.append(f"{sum(b.rejected_pending.values())} rejected event(s) pending")
        if b.inbox_unfinished.get("failed"):
            status.attention.append(f"{b.inbox_unfinished['failed']} webhook inbox row(s) failed")
        inbox_age = _age(b.inbox_oldest_unfinished)
        if inbox_age is not None and inbox_age > INBOX_STUCK_S:
            status.attention.append(f"the oldest unfinished webhook waits for {inbox_age:.0f} s")
        refund_age = _age(b.refunds_oldest_pending)
        if refund_age is not None and refund_age > ctx.settings.unmatched_refund_wait_s:
            status.attention.append("failure reports wait past BILLING_UNMATCHED_REFUND_WAIT for their debit")
        if b.reconcile_violations:
            status.attention.append(
                f"the last `billing reconcile` found {b.reconcile_violations} violation(s)"
            )
        sweep_age = _age(b.last_sweep)
        if sweep_age is None or sweep_age > max_sweep_age:
            late = "never ran" if sweep_age is None else f"last swept {sweep_age:.0f} s ago"
            status.attention.append(f"the scheduler {late}")
    return status


def status_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    status = gather(ctx, args.max_sweep_age)
    if args.json:
        print(to_json({"ok": not status.attention, **asdict(status)}))
    else:
        print(render(status))
    return 1 if status.attention else 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(status: Status) -> str:
    lines = [f"database: {status.database}", f"broker:   {status.broker}"]
    if status.queues:
        rows = [(q.name, q.ready, q.consumers) for q in status.queues if q.ready]
        declared = sum(q.ready is not None for q in status.queues)
        lines.append(f"queues:   {declared} of {len(status.queues)} declared; those holding messages:")
        lines.append(table(["queue", "ready", "consumers"], rows) if rows else "  none")
    if status.usage_lag is not None:
        lag = status.usage_lag
        lines.append(
            f"usage:    newest debit {_seconds(_age(lag.newest_charge))} ago; occurred_at to debit over the "
            f"last {lag.rows}: median {_seconds(lag.median_seconds)}, max {_seconds(lag.max_seconds)}"
        )
    b = status.backlogs
    if b is not None:
        rejected = ", ".join(f"{r} {n}" for r, n in sorted(b.rejected_pending.items())) or "none"
        pending, failed = b.inbox_unfinished.get("pending", 0), b.inbox_unfinished.get("failed", 0)
        oldest = _seconds(_age(b.inbox_oldest_unfinished))
        lines += [
            f"rejected: {rejected} (pending replay)",
            f"webhooks: {pending} pending, {failed} failed; oldest {oldest}",
            f"refunds:  {b.refunds_pending} failure report(s) waiting for their debit",
            f"overdraft: {b.organizations_in_overdraft} organization(s)",
            f"scheduler: last sweep {b.last_sweep.isoformat() if b.last_sweep else 'never'}",
            f"reconcile: {b.last_reconcile.isoformat() if b.last_reconcile else 'never run'}, "
            f"{b.reconcile_violations} violation(s)",
        ]
    lines.append("attention:" if status.attention else "ok: nothing needs attention")
    lines += [f"  - {item}" for item in status.attention]
    return "\n".join(lines)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def health_cmd(ctx: CommandContext, args: argparse.Namespace) -> int:
    port = args.port or PROCESSES[args.process] or ctx.settings.metrics_port
    if port is None:
        print(f"error: BILLING_METRICS_PORT is not set: {args.process} serves no metrics to probe")
        return 2
    path = "/metrics" if args.process in ("worker", "scheduler") else "/healthz"
    try:
        body = _get(f"http://127.0.0.1:{port}{path}")
    except (OSError, urllib.error.URLError) as error:
        print(f"unhealthy: {args.process} does not answer on port {port}: {error}")
        return 1
    if args.process == "worker" and _gauge(body, "billing_worker_processes") < 1:
        print("unhealthy: no worker process runs")
        return 1
    print(f"ok: {args.process} answers on port {port}")
    return 0


def _gauge(exposition: str, name: str) -> float:
    samples: list[Any] = [
        s for family in text_string_to_metric_families(exposition) for s in family.samples if s.name == name
    ]
    return float(samples[0].value) if samples else 0.0
