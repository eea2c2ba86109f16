"""`billing budgets set|list|delete`: spend limits below the organization (docs/spend-controls.md)."""

from __future__ import annotations

import argparse
from typing import Any

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import credits, table, to_json
from billing_core.money import credits_to_micros
from billing_core.spend import budgets


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmds = sub.add_parser("budgets", help="spend limits per agent, user, API key or organization")
    actions = cmds.add_subparsers(dest="budgets_cmd", required=True)
    set_ = actions.add_parser("set", help="create or change a budget")
    set_.add_argument("org_id")
    set_.add_argument("--scope", required=True, choices=budgets.SCOPES)
    set_.add_argument("--id", dest="scope_id", default="", help="the agent, user or key prefix")
    set_.add_argument("--period", required=True, choices=budgets.PERIODS)
    set_.add_argument("--limit", required=True, help="credits per window, e.g. 50 or 12.5")
    set_.add_argument("--soft", action="store_true", help="notify only; checks still pass")
    set_.add_argument("--alerts", default="80", help="alert thresholds in percent, e.g. 50,80")
    set_.set_defaults(run=budget_set)
    lst = actions.add_parser("list")
    lst.add_argument("org_id")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=budget_list)
    delete = actions.add_parser("delete")
    delete.add_argument("org_id")
    delete.add_argument("budget_id", type=int)
    delete.set_defaults(run=budget_delete)


def budget_set(ctx: CommandContext, args: argparse.Namespace) -> int:
    try:
        alerts = [int(a) for a in args.alerts.split(",") if a.strip()]
    except ValueError:
        print("error: --alerts takes whole percentages, e.g. 50,80")
        return 2
    limit, at = credits_to_micros(args.limit, field="limit"), utcnow()
    made = ctx.audited_write(
        "budget.set",
        lambda c: budgets.set_budget(
            c,
            args.org_id,
            scope=args.scope,
            scope_id=args.scope_id,
            period=args.period,
            limit_micros=limit,
            hard=not args.soft,
            alert_thresholds=alerts,
            now=at,
        ),
        organization_id=args.org_id,
        target=lambda b: ("budget", b.id),
        details=lambda b: {
            "after": {"limit": credits(b.limit_micros), "hard": b.hard, "alert_thresholds": alerts}
        },
    )
    kind = "hard" if made.hard else "soft"
    print(
        f"budget {made.id}: {made.scope} {made.scope_id or args.org_id}, {credits(made.limit_micros)} "
        f"per {made.period} ({kind})"
    )
    return 0


def _row(s: budgets.BudgetStatus) -> dict[str, Any]:
    b = s.budget
    return {
        "id": b.id,
        "scope": b.scope,
        "scope_id": b.scope_id,
        "period": b.period,
        "hard": b.hard,
        "limit": credits(b.limit_micros),
        "spent": credits(s.spent),
        "held": credits(s.held),
        "resets_at": s.window.resets_at,
    }


def budget_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = [_row(s) for s in ctx.read(lambda c: budgets.list_budgets(c, args.org_id, utcnow()))]
    if args.json:
        print(to_json(rows))
    else:
        columns = ["id", "scope", "scope_id", "period", "hard", "limit", "spent", "held", "resets_at"]
        print(table(columns, [[r[k] if r[k] is not None else "never" for k in columns] for r in rows]))
    return 0


def budget_delete(ctx: CommandContext, args: argparse.Namespace) -> int:
    ctx.audited_write(
        "budget.delete",
        lambda c: budgets.delete_budget(c, args.org_id, args.budget_id),
        organization_id=args.org_id,
        target=lambda _: ("budget", args.budget_id),
    )
    print(f"budget {args.budget_id} deleted")
    return 0
