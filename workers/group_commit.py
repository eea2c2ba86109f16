"""Group commit: concurrent messages of one worker process share one database transaction.

Each actor thread submits its (already decoded and priced) work and waits. A thread that finds
fewer than `max_leaders` commits in progress becomes a leader: it takes everything submitted so
far, commits it in one transaction, and wakes the others. Under load, groups grow by themselves;
with one message in flight, nothing waits. One leader per process is the default: concurrent
groups of one process would mostly wait for each other's balance-row locks, and fewer, bigger
transactions amortize each commit's round trips and WAL flush. Every submitter returns only after
the commit that holds its work, so a message is acknowledged after its commit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Slot(Generic[T]):
    item: T
    size: int
    done: bool = False
    error: BaseException | None = None


class GroupCommitter(Generic[T]):
    def __init__(
        self, commit: Callable[[list[T]], object], *, max_size: int = 5000, max_leaders: int = 1
    ) -> None:
        self._commit = commit
        self._max_size = max_size
        self._max_leaders = max_leaders
        self._cond = threading.Condition()
        self._pending: deque[_Slot[T]] = deque()
        self._leaders = 0

    def submit(self, item: T, size: int = 1) -> None:
        """Return once `item` is committed; raise what its transaction raised."""
        slot = _Slot(item, size)
        with self._cond:
            self._pending.append(slot)
        while True:
            with self._cond:
                while not slot.done and (self._leaders >= self._max_leaders or not self._pending):
                    self._cond.wait()
                if slot.done:
                    if slot.error is not None:
                        raise slot.error
                    return
                self._leaders += 1
                group = self._take()
            self._run(group)

    def _take(self) -> list[_Slot[T]]:
        group: list[_Slot[T]] = []
        size = 0
        while self._pending and (not group or size + self._pending[0].size <= self._max_size):
            slot = self._pending.popleft()
            group.append(slot)
            size += slot.size
        return group

    def _run(self, group: list[_Slot[T]]) -> None:
        errors: dict[int, BaseException | None] = {}
        try:
            self._commit([slot.item for slot in group])
            errors = {id(slot): None for slot in group}
        except BaseException as error:
            if len(group) == 1:
                errors = {id(group[0]): error}
            else:
                # One bad message must not fail its neighbours: commit each on its own.
                for slot in group:
                    try:
                        self._commit([slot.item])
                        errors[id(slot)] = None
                    except BaseException as own_error:
                        errors[id(slot)] = own_error
        finally:
            with self._cond:
                for slot in group:
                    slot.done = True
                    slot.error = errors.get(id(slot), RuntimeError("group commit interrupted"))
                self._leaders -= 1
                self._cond.notify_all()
