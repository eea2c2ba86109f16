"""Low-balance alerts: pure rules over an organization's balance before and after a change.

The thresholds are percentages of the period's allocation (`base`, the credits granted in the
current period, set when credits are granted), default 20 and 5. The alert level counts how many
thresholds the balance is below (-1: at or below zero, exhausted). A debit that takes the level
deeper fires one `balance.low` per threshold newly crossed (and `balance.exhausted` on reaching
zero); staying below fires nothing again. Credits added (a grant, a refund) that take the balance
back above the highest threshold reset the level and fire `balance.recovered`; credits that only
move it between thresholds just lower the level (without an event), so a later debit fires again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billing_core.notifications.events import BALANCE_EXHAUSTED, BALANCE_LOW, BALANCE_RECOVERED

EXHAUSTED = -1


@dataclass(frozen=True)
class Alert:
    event_type: str
    threshold_percent: int | None  # balance.low only


def level_of(balance: int, base: int, thresholds: Sequence[int]) -> int:
    """How many thresholds the balance is below (EXHAUSTED at or below zero)."""
    if balance <= 0:
        return EXHAUSTED
    if base <= 0:
        return 0
    return sum(1 for t in thresholds if balance * 100 < base * t)


def _depth(level: int, thresholds: Sequence[int]) -> int:
    return len(thresholds) + 1 if level == EXHAUSTED else level


def after_debit(level: int, balance: int, base: int, thresholds: Sequence[int]) -> tuple[int, list[Alert]]:
    """The new level and the alerts a debit fires (only ever deeper)."""
    ordered = sorted(thresholds, reverse=True)
    new = level_of(balance, base, ordered)
    if _depth(new, ordered) <= _depth(level, ordered):
        return level, []
    alerts: list[Alert] = []
    if base > 0:
        crossed_before = min(_depth(level, ordered), len(ordered))
        crossed_now = len(ordered) if new == EXHAUSTED else new
        alerts += [Alert(BALANCE_LOW, t) for t in ordered[crossed_before:crossed_now]]
    if new == EXHAUSTED:
        alerts.append(Alert(BALANCE_EXHAUSTED, None))
    return new, alerts


def after_credit(level: int, balance: int, base: int, thresholds: Sequence[int]) -> tuple[int, list[Alert]]:
    """The new level and the alerts credits fire (recovered above the highest threshold)."""
    new = level_of(balance, base, thresholds)
    if level != 0 and new == 0:
        return 0, [Alert(BALANCE_RECOVERED, None)]
    if _depth(new, thresholds) < _depth(level, thresholds):
        return new, []
    return level, []
