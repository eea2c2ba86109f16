"""Group commit: shared transactions for concurrent messages, and isolation of a bad one."""

from __future__ import annotations

import threading
import time

import pytest

from billing_core.db.group_commit import GroupCommitter
from tests.support.pipeline import join_all


def queued(committer: GroupCommitter[int]) -> int:
    """How many submissions wait for the leader (the committer's own queue)."""
    return len(committer._pending)


def run_all(
    threads: list[threading.Thread],
    open_after: threading.Event | None = None,
    *,
    committer: GroupCommitter[int] | None = None,
    waiting: int = 0,
) -> None:
    """Start every thread; with a gate, open it only once `waiting` submissions are queued behind
    the first commit (so what follows must group them), then join them all."""
    for t in threads:
        t.start()
    if open_after is not None:
        deadline = time.monotonic() + 10
        while committer is not None and queued(committer) < waiting and time.monotonic() < deadline:
            time.sleep(0.005)
        open_after.set()
    join_all(threads, 10)


def test_concurrent_submitters_share_commits_and_each_returns_after_its_own_commit():
    """The first commit is held until the 15 other submissions wait behind it: the next commit must
    take all 15 together (one at a time would give 16 commits)."""
    committed: list[list[int]] = []
    returned_after_commit: list[bool] = []
    lock = threading.Lock()
    gate = threading.Event()

    def commit(items: list[int]) -> None:
        gate.wait(10)  # the first commit's database round trip lasts until the others queue up
        with lock:
            committed.append(items)

    committer: GroupCommitter[int] = GroupCommitter(commit, max_leaders=1)

    def submit(n: int) -> None:
        committer.submit(n)
        with lock:
            returned_after_commit.append(any(n in group for group in committed))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(16)]
    run_all(threads, gate, committer=committer, waiting=15)
    assert sorted(n for group in committed for n in group) == list(range(16))
    assert sorted(len(group) for group in committed) == [1, 15]
    assert returned_after_commit == [True] * 16


def test_a_failing_item_fails_alone_and_its_group_neighbours_are_committed():
    committed: list[int] = []
    gate = threading.Event()

    def commit(items: list[int]) -> None:
        gate.wait(5)
        if 13 in items:
            raise ValueError("bad message")
        committed.extend(items)

    committer: GroupCommitter[int] = GroupCommitter(commit, max_leaders=1)
    outcomes: dict[int, str] = {}

    def submit(n: int) -> None:
        try:
            committer.submit(n)
            outcomes[n] = "ok"
        except ValueError:
            outcomes[n] = "failed"

    threads = [threading.Thread(target=submit, args=(n,)) for n in (1, 13, 2, 3)]
    run_all(threads, open_after=gate, committer=committer, waiting=3)
    assert outcomes == {1: "ok", 13: "failed", 2: "ok", 3: "ok"}
    assert sorted(committed) == [1, 2, 3]


def test_a_single_submitter_that_fails_gets_the_error():
    def commit(items: list[int]) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        GroupCommitter(commit).submit(1)


def test_groups_never_exceed_the_size_limit():
    sizes: list[int] = []
    gate = threading.Event()

    def commit(items: list[int]) -> None:
        gate.wait(5)
        sizes.append(sum(items))

    committer: GroupCommitter[int] = GroupCommitter(commit, max_size=10, max_leaders=1)
    threads = [threading.Thread(target=committer.submit, args=(4, 4)) for _ in range(6)]
    run_all(threads, open_after=gate, committer=committer, waiting=5)
    # The first alone (4), then the five waiting in groups of two (8, 8) and the last (4).
    assert sizes == [4, 8, 8, 4]
