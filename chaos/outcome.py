"""A scenario's result, counted from the ledger: of the distinct ids sent, how many were applied
exactly once, not at all (lost) or more than once (doubled); the rejected events by reason; the
time from the last fault to a drained pipeline; and what `billing reconcile` said."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sqlalchemy import text

from chaos.stage import Stage


@dataclass
class Outcome:
    scenario: str
    sent: int  # distinct ids: the stream's duplicates are counted once
    charged_once: int
    lost: int
    charged_twice: int
    rejected_expected: int
    rejected_unexpected: int
    recover_s: float | None
    reconcile: str
    detail: str = ""
    problem: str = ""  # a scenario's own failed check (e.g. others did not flow during a lock)

    @property
    def ok(self) -> bool:
        clean = self.lost == self.charged_twice == self.rejected_unexpected == 0
        return clean and self.reconcile == "ok" and not self.problem

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def tally(sent: Iterable[str], applied: Counter[str]) -> tuple[int, int, int]:
    """(once, lost, twice) of the ids in `sent`; an applied id that was never sent counts as twice:
    it is money moved that nobody asked for."""
    ids = set(sent)
    once = sum(1 for i in ids if applied.get(i, 0) == 1)
    twice = sum(1 for i in ids if applied.get(i, 0) > 1) + sum(1 for i in applied if i not in ids)
    return once, len(ids) - once - sum(1 for i in ids if applied.get(i, 0) > 1), twice


def ledger_counts(stage: Stage, type_: str, key: str = "event_id", reference_type: str = "%") -> Counter[str]:
    """How many ledger rows of `type_` (and `reference_type`) each id (a column: event id,
    reference id...) has."""
    where = "type = :t AND reference_type LIKE :r"
    sql = f"SELECT {key}, count(*) FROM credit_transactions WHERE {where} GROUP BY {key}"  # noqa: S608
    with stage.engine.connect() as c:
        rows = c.execute(text(sql), {"t": type_, "r": reference_type})
        return Counter({str(k): int(n) for k, n in rows if k is not None})


def rejections(stage: Stage) -> Counter[str]:
    with stage.engine.connect() as c:
        rows = c.execute(text("SELECT reason, count(*) FROM rejected_events GROUP BY reason"))
        return Counter({str(r): int(n) for r, n in rows})


def outcome(
    stage: Stage,
    scenario: str,
    sent: Iterable[str],
    applied: Counter[str],
    recover_s: float | None,
    expected_rejections: frozenset[str] = frozenset(),
    detail: str = "",
) -> Outcome:
    once, lost, twice = tally(sent, applied)
    rejected = rejections(stage)
    expected = sum(n for reason, n in rejected.items() if reason in expected_rejections)
    unexpected = {reason: n for reason, n in rejected.items() if reason not in expected_rejections}
    if unexpected:
        detail = f"{detail}; unexpected rejections {unexpected}".lstrip("; ")
    return Outcome(
        scenario,
        len(set(sent)),
        once,
        lost,
        twice,
        expected,
        sum(unexpected.values()),
        None if recover_s is None else round(recover_s, 1),
        stage.reconcile(),
        detail,
    )
