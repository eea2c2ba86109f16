"""Group commit: concurrent messages of one worker process share one database transaction.

Each actor thread submits its events and waits. Whichever thread finds no commit in progress
becomes the leader: it takes everything submitted so far, commits it in one transaction, and wakes
the others. Under load, batches grow by themselves; with one message in flight, nothing waits.
Every submitter returns only after the commit that holds its events, so acks follow commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass
class _Slot:
    items: Sequence[object]
    done: bool = False
    error: BaseException | None = None


class GroupCommitter(Generic[R]):
    def __init__(self, commit: Callable[[list[object]], R], *, max_items: int = 5000) -> None:
        self._commit = commit
        self._max_items = max_items
        self._cond = threading.Condition()
        self._pending: list[_Slot] = []
        self._busy = False

    def submit(self, items: Sequence[object]) -> None:
        """Return once `items` are committed; raise what their transaction raised."""
        slot = _Slot(items)
        with self._cond:
            self._pending.append(slot)
        while True:
            with self._cond:
                while self._busy and not slot.done:
                    self._cond.wait()
                if slot.done:
                    if slot.error is not None:
                        raise slot.error
                    return
                self._busy = True
                group = self._take()
            self._run(group)

    def _take(self) -> list[_Slot]:
        group: list[_Slot] = []
        size = 0
        while self._pending and (not group or size + len(self._pending[0].items) <= self._max_items):
            slot = self._pending.pop(0)
            group.append(slot)
            size += len(slot.items)
        return group

    def _run(self, group: list[_Slot]) -> None:
        errors: dict[int, BaseException | None] = {}
        try:
            self._commit([item for slot in group for item in slot.items])
            errors = {id(slot): None for slot in group}
        except BaseException as error:
            if len(group) == 1:
                errors = {id(group[0]): error}
            else:
                # One bad message must not fail its neighbours: commit each on its own.
                for slot in group:
                    try:
                        self._commit(list(slot.items))
                        errors[id(slot)] = None
                    except BaseException as own_error:
                        errors[id(slot)] = own_error
        finally:
            with self._cond:
                for slot in group:
                    slot.done = True
                    slot.error = errors.get(id(slot), RuntimeError("group commit interrupted"))
                self._busy = False
                self._cond.notify_all()
