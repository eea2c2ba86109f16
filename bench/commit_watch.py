"""When each usage row became visible (committed), seen by polling the ledger's newest rows.

Rows are found by id above a floor: every id up to the floor has been seen, or was skipped for
longer than a transaction lasts (a rolled-back batch or the sequence's gaps). A poll reads only the
rows above the floor, so it stays cheap however large the ledger grows.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, text

GAP_TIMEOUT_S = 5.0


class CommitWatch(threading.Thread):
    def __init__(self, engine: Engine, interval: float = 0.02) -> None:
        super().__init__(name="bench-commit-watch", daemon=True)
        self.engine = engine
        self.interval = interval
        self.seen_at: dict[str, float] = {}  # event id -> first time its row was visible
        self.stopped = threading.Event()
        self._floor = 0
        self._ids: set[int] = set()
        self._gap_since: dict[int, float] = {}

    def run(self) -> None:
        with self.engine.connect() as connection:
            self._floor = int(
                connection.execute(text("SELECT COALESCE(max(id), 0) FROM credit_transactions")).scalar_one()
            )
            connection.rollback()
            while not self.stopped.wait(self.interval):
                rows = connection.execute(
                    text("SELECT id, event_id, type FROM credit_transactions WHERE id > :floor"),
                    {"floor": self._floor},
                ).all()
                connection.rollback()  # a fresh snapshot on every poll
                now = time.time()
                for row_id, event_id, kind in rows:
                    self._ids.add(row_id)
                    if kind == "usage":
                        self.seen_at.setdefault(event_id, now)
                self._advance(now)

    def _advance(self, now: float) -> None:
        floor, top = self._floor, max(self._ids, default=self._floor)
        while floor < top:
            following = floor + 1
            if following in self._ids:
                self._ids.discard(following)
            elif following in self._gap_since and now - self._gap_since[following] > GAP_TIMEOUT_S:
                del self._gap_since[following]  # never committed: a rolled-back row or a sequence gap
            else:
                for missing in range(following, top):
                    if missing not in self._ids:
                        self._gap_since.setdefault(missing, now)
                break
            floor = following
        self._floor = floor

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)
