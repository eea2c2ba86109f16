"""Group commit: concurrent units of work of one process share one database transaction (the
usage messages of a worker process, the ingestion requests of an embedded API process).

Each thread submits its (already decoded and priced) work and waits. A thread that finds
fewer than `max_leaders` commits in progress becomes a leader: it takes everything submitted so
far, commits it in one transaction, wakes the submitters of that group, and goes on leading until
its own work is committed; then it hands the lead to the oldest waiting submitter. Under load,
groups grow by themselves; with one message in flight, nothing waits. Each waiting thread sleeps on
its own event, so a commit wakes only the threads it concerns, never the whole pool.

One leader per process is the default: concurrent groups would only split the same work into more,
smaller transactions. Every submitter returns only after the commit that holds its work, so a
message is acknowledged (a request answered) after its commit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Slot(Generic[T]):
    item: T
    size: int
    done: bool = False
    lead: bool = False
    error: BaseException | None = None
    wake: threading.Event = field(default_factory=threading.Event)


class GroupCommitter(Generic[T]):
    def __init__(
        self, commit: Callable[[list[T]], object], *, max_size: int = 5000, max_leaders: int = 1
    ) -> None:
        self._commit = commit
        self._max_size = max_size
        self._max_leaders = max_leaders
        self._lock = threading.Lock()
        self._pending: deque[_Slot[T]] = deque()
        self._leaders = 0

    def submit(self, item: T, size: int = 1) -> None:
        """Return once `item` is committed; raise what its transaction raised."""
        slot = _Slot(item, size)
        with self._lock:
            self._pending.append(slot)
            if self._leaders < self._max_leaders:
                self._leaders += 1
                slot.lead = True
        if not slot.lead:
            slot.wake.wait()
        if slot.lead:
            self._lead_until_done(slot)
        if slot.error is not None:
            raise slot.error

    def _lead_until_done(self, slot: _Slot[T]) -> None:
        while not slot.done:
            with self._lock:
                group = self._take()
            self._run(group)
        with self._lock:
            if self._pending:
                successor = self._pending[0]
                successor.lead = True
                successor.wake.set()
            else:
                self._leaders -= 1

    def _take(self) -> list[_Slot[T]]:
        group: list[_Slot[T]] = []
        size = 0
        while self._pending and (not group or size + self._pending[0].size <= self._max_size):
            taken = self._pending.popleft()
            group.append(taken)
            size += taken.size
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
            for slot in group:
                slot.error = errors.get(id(slot), RuntimeError("group commit interrupted"))
                slot.done = True
                slot.wake.set()
