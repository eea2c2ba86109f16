"""Group commit: shared transactions for concurrent messages, and isolation of a bad one."""

from __future__ import annotations

import threading
import time

import pytest

from billing_core.db.group_commit import GroupCommitter


def run_all(threads: list[threading.Thread], open_after: threading.Event | None = None) -> None:
    """Start every thread; with a gate, let them all queue up behind it for 0.1 s, then open it."""
    for t in threads:
        t.start()
    if open_after is not None:
        time.sleep(0.1)
        open_after.set()
    for t in threads:
        t.join(10)


def test_concurrent_submitters_share_commits_and_each_returns_after_its_own_commit():
    committed: list[list[int]] = []
    returned_after_commit: list[bool] = []
    lock = threading.Lock()

    def commit(items: list[int]) -> None:
        time.sleep(0.02)  # a database round trip
        with lock:
            committed.append(items)

    committer: GroupCommitter[int] = GroupCommitter(commit, max_leaders=1)

    def submit(n: int) -> None:
        committer.submit(n)
        with lock:
            returned_after_commit.append(any(n in group for group in committed))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(16)]
    run_all(threads)
    assert sorted(n for group in committed for n in group) == list(range(16))
    assert len(committed) < 16  # some were grouped
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
    run_all(threads, open_after=gate)
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
    run_all(threads, open_after=gate)
    assert sum(sizes) == 24 and max(sizes) <= 8
