"""Reconciliation: every ledger invariant of docs/architecture.md, checked over the whole database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str


# Each check is a query returning (subject, detail) for every row that breaks the invariant.
CHECKS: dict[str, str] = {
    "balance equals the sum of transactions": """
        SELECT b.organization_id,
               'balance ' || b.balance || ' but transactions sum to ' || COALESCE(t.total, 0)
        FROM balances b LEFT JOIN (
            SELECT organization_id, SUM(amount) AS total FROM credit_transactions GROUP BY organization_id
        ) t USING (organization_id)
        WHERE b.balance <> COALESCE(t.total, 0)""",
    "grants' remaining minus overdraft equals the balance": """
        SELECT b.organization_id, 'balance ' || b.balance || ', overdraft ' || b.overdraft
               || ', grants remaining ' || COALESCE(g.total, 0)
        FROM balances b LEFT JOIN (
            SELECT organization_id, SUM(remaining) AS total FROM credit_grants GROUP BY organization_id
        ) g USING (organization_id)
        WHERE COALESCE(g.total, 0) - b.overdraft <> b.balance""",
    "the last transaction's balance_after equals the balance": """
        SELECT b.organization_id, 'balance ' || b.balance || ' but last balance_after ' || t.balance_after
        FROM balances b JOIN LATERAL (
            SELECT balance_after FROM credit_transactions c
            WHERE c.organization_id = b.organization_id ORDER BY id DESC LIMIT 1
        ) t ON true
        WHERE t.balance_after <> b.balance""",
    "at most one usage debit per event": """
        SELECT event_id, count(*) || ' usage debits'
        FROM credit_transactions WHERE type = 'usage' GROUP BY event_id HAVING count(*) > 1""",
    "a refund never exceeds its debit": """
        SELECT r.event_id, 'refund ' || r.amount || ' for a debit of ' || COALESCE(-u.amount, 0)
        FROM credit_transactions r
        LEFT JOIN credit_transactions u ON u.type = 'usage' AND u.event_id = r.event_id
        WHERE r.type = 'refund' AND r.event_id IS NOT NULL AND r.amount > COALESCE(-u.amount, 0)""",
    "a debit's allocations add up to its amount": """
        SELECT c.id::text, 'amount ' || c.amount || ' but allocations sum to ' || COALESCE(a.total, 0)
        FROM credit_transactions c LEFT JOIN LATERAL (
            SELECT SUM((x->>'amount')::bigint) AS total FROM jsonb_array_elements(c.allocations) x
        ) a ON true
        WHERE (c.type IN ('usage', 'expiration') OR (c.type = 'purchase' AND c.amount < 0))
          AND -c.amount <> COALESCE(a.total, 0)""",
    "a purchase's refund takes back at most what it granted": """
        SELECT p.id::text, 'granted ' || p.credits || ' but ' || -COALESCE(SUM(c.amount), 0) || ' taken back'
        FROM purchases p JOIN credit_transactions c ON c.type = 'purchase' AND c.amount < 0
            AND c.reference_type = 'purchase' AND c.reference_id = p.id::text
        GROUP BY p.id, p.credits HAVING -SUM(c.amount) > p.credits OR -SUM(c.amount) <> MAX(p.clawed_back)""",
    "an expired grant has nothing left": """
        SELECT id::text, 'expired but ' || remaining || ' remaining'
        FROM credit_grants WHERE expired_at IS NOT NULL AND remaining <> 0""",
    "every organization has a balance row": """
        SELECT o.id, 'no balance row' FROM organizations o
        LEFT JOIN balances b ON b.organization_id = o.id WHERE b.organization_id IS NULL""",
}


def reconcile(connection: Connection) -> list[Violation]:
    violations: list[Violation] = []
    for invariant, query in CHECKS.items():
        for subject, detail in connection.execute(text(query)):
            violations.append(Violation(invariant, str(subject), str(detail)))
    return violations
