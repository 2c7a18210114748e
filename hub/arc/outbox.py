"""The ARC outbox: every report is in SQLite before its first transmission, until an ACK.

- WAL journal with ``synchronous=FULL``: a committed report survives kill -9 and power loss
  (SQLite's WAL syncs the log on every commit in FULL mode).
- The message number is assigned in the same transaction that stores the report, and stored
  with it (column ``seq``): every transmission of a report, on any receiver, before or after a
  crash, carries the same number, from which each protocol derives its wire identity (DC-09's
  sequence number, SOS Access's reference, SCAIP's ref), so the centre can recognise a
  duplicate. Numbers count up from 1 and are never reused; link tests take theirs from the
  same counter.
- Delivery order is priority, then the time the alarm was raised, then arrival.
- A delivered report is remembered, not deleted (``delivered_at``, ``delivered_to``): the hub
  records an alarm's progress in its own database, in its own transactions, and a crash
  between the two can make the hub submit a report again that the centre already has. The
  outbox answers that submission with "delivered already", under the report's one message
  number, instead of sending it as a second alarm. Delivered rows are pruned after
  ``[arc].delivered_keep_days``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..private_files import create_owner_only
from .report import AlarmReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS arc_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL,
    event TEXT NOT NULL,
    priority INTEGER NOT NULL,
    raised_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    report TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (alarm_id, event)
);
CREATE INDEX IF NOT EXISTS arc_outbox_order ON arc_outbox (priority, raised_at, id);
CREATE TABLE IF NOT EXISTS arc_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


# arc_state rows "outage:<receiver name>": link outages reported and not yet restored.
_OUTAGE = "outage:"


# Columns added after the first release, with what an older database gets.
_ADDED_COLUMNS = (("delivered_at", "REAL"), ("delivered_to", "TEXT"))


class Submitted(NamedTuple):
    number: int  # the report's message number
    new: bool  # stored by this call (False: it was there already)
    delivered_to: str | None  # the receiver that has it already, if one does


@dataclass(frozen=True)
class OutboxEntry:
    row_id: int
    number: int  # the message number (see the module docstring)
    report: AlarmReport
    attempts: int


class ArcOutbox:
    """Synchronous SQLite access; each call is one short transaction (milliseconds)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        create_owner_only(self.path)  # alarm texts and rooms are health data
        self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(arc_outbox)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in columns:
                self._db.execute(f"ALTER TABLE arc_outbox ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self._db.close()

    def _take_number(self) -> int:
        row = self._db.execute(
            "SELECT value FROM arc_state WHERE name='next_message'").fetchone()
        if row is None:
            # A database from before message numbers were protocol-neutral counted DC-09
            # sequence numbers (1-9999) in 'next_seq': carry on from there, so a DC-09
            # receiver sees the sequence continue.
            old = self._db.execute("SELECT value FROM arc_state WHERE name='next_seq'").fetchone()
            number = int(old[0]) if old else 1
        else:
            number = int(row[0])
        number = max(1, number)
        self._db.execute("INSERT INTO arc_state (name, value) VALUES ('next_message', ?) "
                         "ON CONFLICT (name) DO UPDATE SET value=excluded.value",
                         (number + 1,))
        return number

    def take_number(self) -> int:
        """A fresh message number for a message that is not stored (a link test)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            number = self._take_number()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return number

    def add(self, report: AlarmReport) -> Submitted:
        """Store ``report`` durably, unless its (alarm_id, event) is here already: then the
        first one's number, and the receiver that has it if it was delivered."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT seq, delivered_to FROM arc_outbox WHERE alarm_id=? AND event=?",
                (report.alarm_id, report.event)).fetchone()
            if row:
                self._db.execute("COMMIT")
                return Submitted(int(row[0]), False, row[1])
            number = self._take_number()
            self._db.execute(
                "INSERT INTO arc_outbox (alarm_id, event, priority, raised_at, seq, report) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (report.alarm_id, report.event, report.priority, report.raised_at, number,
                 report.to_json()))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return Submitted(number, True, None)

    def next_due(self, now: float) -> OutboxEntry | None:
        """The report to send next: highest priority, then oldest, among those due."""
        row = self._db.execute(
            "SELECT id, seq, report, attempts FROM arc_outbox WHERE delivered_at IS NULL "
            "AND not_before <= ? ORDER BY priority, raised_at, id LIMIT 1", (now,)).fetchone()
        if row is None:
            return None
        return OutboxEntry(int(row[0]), int(row[1]), AlarmReport.from_json(row[2]), int(row[3]))

    def earliest_deferred(self) -> float | None:
        row = self._db.execute(
            "SELECT MIN(not_before) FROM arc_outbox WHERE delivered_at IS NULL").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def mark_delivered(self, row_id: int, receiver: str, at: float) -> None:
        """The report is at the centre: remembered as such (one durable commit)."""
        self._db.execute("UPDATE arc_outbox SET delivered_at=?, delivered_to=? WHERE id=?",
                         (at, receiver, row_id))

    def prune_delivered(self, before: float) -> int:
        """Forget reports delivered before ``before`` (epoch seconds); returns how many."""
        return self._db.execute("DELETE FROM arc_outbox WHERE delivered_at < ?",
                                (before,)).rowcount

    def record_failure(self, row_id: int, error: str, not_before: float = 0.0) -> None:
        self._db.execute(
            "UPDATE arc_outbox SET attempts=attempts+1, last_error=?, not_before=? WHERE id=?",
            (error[:200], not_before, row_id))

    def open_outages(self) -> dict[str, int]:
        """Receiver name -> start (epoch ms) of a link outage reported to the centre and not
        yet restored: a restart must not forget to send the restore."""
        rows = self._db.execute("SELECT name, value FROM arc_state WHERE name LIKE ?",
                                (_OUTAGE + "%",))
        return {str(name)[len(_OUTAGE):]: int(value) for name, value in rows}

    def set_outage(self, receiver: str, started_ms: int | None) -> None:
        """Record (or, with None, clear) the open link outage of ``receiver``."""
        if started_ms is None:
            self._db.execute("DELETE FROM arc_state WHERE name=?", (_OUTAGE + receiver,))
        else:
            self._db.execute("INSERT INTO arc_state (name, value) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET value=excluded.value",
                             (_OUTAGE + receiver, started_ms))

    def pending(self) -> int:
        """Reports not yet delivered."""
        return int(self._db.execute(
            "SELECT COUNT(*) FROM arc_outbox WHERE delivered_at IS NULL").fetchone()[0])
