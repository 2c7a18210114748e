"""The hub's durable store: SQLite in WAL mode, one file, readable only by the service's user.

Tables: ``devices`` (key, role, room, zone, last seen, battery, RSSI and the replay window),
``events`` (append-only: every accepted frame and every hub-made event), ``alarms`` (life cycle
raised -> forwarded -> acknowledged -> resolved) and ``alarm_deliveries``, ``rejections``
(counts per device and reason), ``commands`` (hub -> device, retried until answered) and
``hub_sequence`` (the hub's own sender counter per device).

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``. In WAL mode NORMAL syncs only at
checkpoints, so the last transactions before a power cut may roll back (SQLite docs, "WAL
mode ... synchronous=NORMAL ... a transaction committed ... might roll back following a power
loss"). The hub acks a frame only after its transaction committed, and an acked event must
survive power loss (ARCHITECTURE invariant 2), so each commit must reach the disk: FULL. The
cost is one fsync per commit, which group commit (``IngestConfig.batch_max`` frames per
transaction) spreads over a burst.

Schema changes are numbered migrations tracked in ``PRAGMA user_version``; a database from a
newer hub is refused with a clear error rather than written to.

The class is synchronous and owned by one thread at a time: the service runs every call on one
worker thread (:class:`trygg.hub.service.Database`); the CLI opens its own read-mostly
connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trygg.protocol.replay import ReplayWindow

from .private_files import create_owner_only
from .rules.model import Event as StoredEvent

__all__ = ["Device", "NewFrame", "SequenceSlots", "Store", "StoreError", "StoredEvent"]

_U64 = 1 << 64
_I64 = 1 << 63
# An event's body column: compact JSON with sorted keys. One encoder for every row (json.dumps
# with these options builds a new one per call, most of its cost for a small message).
event_body = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE devices (
        device_id      TEXT PRIMARY KEY,            -- 12 lowercase hex digits = COSE kid
        key            BLOB NOT NULL,               -- 32-byte HMAC key, never printed
        role           TEXT NOT NULL,
        room           TEXT,
        zone           INTEGER NOT NULL UNIQUE,     -- ARC zone number 1..999
        resident_id    TEXT NOT NULL,
        heartbeat_s    REAL,
        board          TEXT,
        firmware       TEXT,
        paired_at      REAL NOT NULL,
        last_seen      REAL,
        battery_mv     INTEGER,
        rssi           INTEGER,
        replay_highest INTEGER NOT NULL DEFAULT -1,
        replay_bitmap  INTEGER NOT NULL DEFAULT 0,  -- 64-bit window as signed int64
        pruned_seq     INTEGER NOT NULL DEFAULT -1  -- highest seq whose event was pruned
    );
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        received_at REAL NOT NULL,                  -- hub clock, UTC epoch seconds
        device_id   TEXT,                           -- NULL for hub-made events
        seq         INTEGER,
        resident_id TEXT,
        type        TEXT NOT NULL,                  -- hello|event|heartbeat|command_result|hub
        name        TEXT,                           -- event name (type event or hub)
        value       INTEGER,
        device_time INTEGER,
        body        TEXT NOT NULL,                  -- the whole message as JSON
        UNIQUE (device_id, seq)
    );
    CREATE INDEX events_received_at ON events (received_at);
    CREATE TABLE alarms (
        alarm_id        TEXT PRIMARY KEY,
        kind            TEXT NOT NULL,
        priority        INTEGER NOT NULL,
        resident_id     TEXT NOT NULL,
        device_id       TEXT,
        state           TEXT NOT NULL,              -- raised|forwarded|acknowledged|resolved
        raised_at       REAL NOT NULL,
        forwarded_at    REAL,
        acknowledged_at REAL,
        resolved_at     REAL,
        description     TEXT NOT NULL,
        cause_event_ids TEXT NOT NULL               -- JSON list of events.id
    );
    CREATE INDEX alarms_state ON alarms (state);
    CREATE TABLE alarm_deliveries (
        id       INTEGER PRIMARY KEY,
        alarm_id TEXT NOT NULL,
        at       REAL NOT NULL,
        event    TEXT NOT NULL,
        receiver TEXT NOT NULL,
        ok       INTEGER NOT NULL,
        detail   TEXT NOT NULL
    );
    CREATE TABLE rejections (
        device_id TEXT NOT NULL,                    -- '' when no paired device is known
        reason    TEXT NOT NULL,
        count     INTEGER NOT NULL,
        last_at   REAL NOT NULL,
        PRIMARY KEY (device_id, reason)
    );
    CREATE TABLE commands (
        command_id      INTEGER PRIMARY KEY,
        device_id       TEXT NOT NULL,
        body            TEXT NOT NULL,              -- the command message as JSON
        state           TEXT NOT NULL,              -- pending|ok|rejected|...|expired
        created_at      REAL NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        finished_at     REAL,
        detail          TEXT
    );
    CREATE INDEX commands_pending ON commands (state, next_attempt_at);
    CREATE TABLE hub_sequence (
        device_id TEXT NOT NULL,
        slot      INTEGER NOT NULL,
        record    BLOB NOT NULL,
        PRIMARY KEY (device_id, slot)
    );
    """,
    # 2: what powers a device (mains | battery), from its hello; NULL until one said so
    """
    ALTER TABLE devices ADD COLUMN power TEXT
    """,
)

ALARM_STATES = ("raised", "forwarded", "acknowledged", "resolved")
OPEN_ALARM_STATES = ("raised", "forwarded", "acknowledged")


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, unreadable file)."""


def _to_i64(bitmap: int) -> int:
    return bitmap - _U64 if bitmap >= _I64 else bitmap


def _from_i64(value: int) -> int:
    return value + _U64 if value < 0 else value


@dataclass
class Device:
    device_id: str
    key: bytes
    role: str
    room: str | None
    zone: int
    resident_id: str
    heartbeat_s: float | None
    board: str | None
    firmware: str | None
    paired_at: float
    last_seen: float | None
    battery_mv: int | None
    rssi: int | None
    replay_highest: int
    replay_bitmap: int
    pruned_seq: int
    power: str | None = None  # mains | battery, as its hello said; None: not said yet

    def window(self) -> ReplayWindow:
        return ReplayWindow(self.replay_highest, self.replay_bitmap)

    def public(self) -> dict[str, Any]:
        """Everything but the key, for CLI output and logs."""
        return {"device_id": self.device_id, "role": self.role, "room": self.room,
                "zone": self.zone, "resident_id": self.resident_id,
                "heartbeat_s": self.heartbeat_s, "board": self.board, "firmware": self.firmware,
                "paired_at": self.paired_at, "last_seen": self.last_seen,
                "battery_mv": self.battery_mv, "rssi": self.rssi, "power": self.power}


@dataclass(frozen=True)
class NewFrame:
    """An authenticated, decoded uplink frame waiting to be stored."""

    device_id: str
    seq: int
    received_at: float
    message: dict[str, Any]


class Store:
    """Synchronous access to the hub database. Not thread-safe: one owner thread at a time."""

    def __init__(self, path: str | Path, *, check_same_thread: bool = True) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            old_umask = os.umask(0o077)
            try:
                create_owner_only(self.path)
                self.conn = sqlite3.connect(str(self.path), isolation_level=None,
                                            check_same_thread=check_same_thread)
            finally:
                os.umask(old_umask)
        else:
            self.conn = sqlite3.connect(":memory:", isolation_level=None,
                                        check_same_thread=check_same_thread)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # why: see the module docstring
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version: int = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path}: schema version {version} is newer than this hub "
                             f"understands ({len(MIGRATIONS)}); upgrade the hub software")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                # Statements end with ";" -- comments in the schema must not contain one.
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        version: int = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is None:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")

    def transaction(self) -> _Tx:
        return Store._Tx(self.conn)

    # -- devices --------------------------------------------------------------------------------

    def add_device(self, device_id: str, key: bytes, role: str, room: str | None,
                   resident_id: str, zone: int | None = None, now: float | None = None) -> Device:
        """Register a device; assigns the next free zone when ``zone`` is None."""
        with self.transaction() as c:
            if zone is None:
                used = {r[0] for r in c.execute("SELECT zone FROM devices")}
                zone = next(z for z in range(1, 1000) if z not in used)
            c.execute("INSERT INTO devices (device_id, key, role, room, zone, resident_id, "
                      "paired_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (device_id, key, role, room, zone, resident_id,
                       time.time() if now is None else now))
        device = self.device(device_id)
        assert device is not None
        return device

    def rekey_device(self, device_id: str, key: bytes, role: str, room: str | None,
                     resident_id: str, zone: int) -> Device:
        """A device provisioned again: a new key (and what it is now), in one transaction. Its
        last seen, health, heartbeat interval, replay window and events stay (the board keeps
        its uplink counter); the hub's downlink counter starts again, as the board forgets its
        downlink window with the old key."""
        with self.transaction() as c:
            c.execute("UPDATE devices SET key = ?, role = ?, room = ?, resident_id = ?, zone = ? "
                      "WHERE device_id = ?", (key, role, room, resident_id, zone, device_id))
            c.execute("DELETE FROM hub_sequence WHERE device_id = ?", (device_id,))
        device = self.device(device_id)
        if device is None:
            raise StoreError(f"device {device_id} is not paired")
        return device

    def remove_device(self, device_id: str) -> bool:
        with self.transaction() as c:
            cur = c.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))
            c.execute("DELETE FROM hub_sequence WHERE device_id = ?", (device_id,))
            return cur.rowcount > 0

    _DEVICE_COLUMNS = ("device_id, key, role, room, zone, resident_id, heartbeat_s, board, "
                       "firmware, paired_at, last_seen, battery_mv, rssi, replay_highest, "
                       "replay_bitmap, pruned_seq, power")

    def _device_row(self, row: Sequence[Any]) -> Device:
        values = list(row)
        values[14] = _from_i64(values[14])
        return Device(*values)

    def device(self, device_id: str) -> Device | None:
        row = self.conn.execute(f"SELECT {self._DEVICE_COLUMNS} FROM devices WHERE device_id = ?",
                                (device_id,)).fetchone()
        return None if row is None else self._device_row(row)

    def devices(self) -> list[Device]:
        return [self._device_row(r) for r in self.conn.execute(
            f"SELECT {self._DEVICE_COLUMNS} FROM devices ORDER BY zone")]

    def set_device_heartbeat(self, device_id: str, heartbeat_s: float) -> None:
        self.conn.execute("UPDATE devices SET heartbeat_s = ? WHERE device_id = ?",
                          (heartbeat_s, device_id))

    def is_stored(self, device_id: str, seq: int) -> bool:
        return self.stored_body(device_id, seq) is not None

    def stored_body(self, device_id: str, seq: int) -> str | None:
        """The body (:data:`event_body`) of the device's stored frame ``seq``, if any."""
        row = self.conn.execute("SELECT body FROM events WHERE device_id = ? AND seq = ?",
                                (device_id, seq)).fetchone()
        return None if row is None else str(row[0])

    # -- events ---------------------------------------------------------------------------------

    def store_frames(self, frames: Sequence[NewFrame], windows: dict[str, tuple[int, int]],
                     resident_of: dict[str, str]) -> list[StoredEvent]:
        """Append ``frames`` and the devices' new replay windows in ONE transaction.

        ``windows``: device id -> (highest, bitmap) after accepting these frames. Devices'
        last seen, battery, RSSI, board and firmware follow from the frames. A frame whose
        (device, seq) is already stored is skipped (it is a retransmission). Returns the rows
        stored, in order.

        One ``executemany`` for the whole batch: the rows get their ids here (the next ones
        after the largest, as SQLite would give them: the transaction holds the write lock),
        so no statement per row is needed to learn them.
        """
        with self.transaction() as c:
            first_id: int = c.execute("SELECT coalesce(max(id), 0) + 1 FROM events").fetchone()[0]
            rows = [(first_id + i, *self._event_values(f.received_at, f.device_id, f.seq,
                                                       resident_of.get(f.device_id), f.message))
                    for i, f in enumerate(frames)]
            changes = self.conn.total_changes
            c.executemany(f"INSERT OR IGNORE INTO events ({self._EVENT_COLUMNS}) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if self.conn.total_changes - changes < len(rows):  # some were stored already
                inserted = {r[0] for r in c.execute("SELECT id FROM events WHERE id >= ?",
                                                    (first_id,))}
                pairs = [(row, f) for row, f in zip(rows, frames, strict=True)
                         if row[0] in inserted]
            else:
                pairs = list(zip(rows, frames, strict=True))
            self._update_devices(c, frames, windows)
        return [StoredEvent(event_id, received_at, device_id, seq, resident_id, msg_type, name,
                            value, device_time, f.message)
                for (event_id, received_at, device_id, seq, resident_id, msg_type, name, value,
                     device_time, _body), f in pairs]

    @staticmethod
    def _event_values(received_at: float, device_id: str | None, seq: int | None,
                      resident_id: str | None, msg: dict[str, Any]) -> tuple[Any, ...]:
        msg_type = msg.get("type", "hub")
        name = msg.get("event") if msg_type in ("event", "hub") else None
        value = msg.get("value")
        return (received_at, device_id, seq, resident_id, msg_type, name,
                value if isinstance(value, int) else None, msg.get("time"), event_body(msg))

    @staticmethod
    def _update_devices(c: sqlite3.Connection, frames: Sequence[NewFrame],
                        windows: dict[str, tuple[int, int]]) -> None:
        latest: dict[str, NewFrame] = {}
        health: dict[str, dict[str, Any]] = {}
        for f in frames:
            prev = latest.get(f.device_id)
            if prev is None or f.received_at >= prev.received_at:
                latest[f.device_id] = f
            t = f.message.get("type")
            if t == "heartbeat":
                h = health.setdefault(f.device_id, {})
                h["battery_mv"] = f.message["battery_mv"]
                h["rssi"] = f.message["rssi"]
            elif t == "hello":
                h = health.setdefault(f.device_id, {})
                h["board"] = f.message["board"]
                h["firmware"] = f.message["firmware"]
                if "power" in f.message:
                    h["power"] = f.message["power"]
        for device_id, (highest, bitmap) in windows.items():
            seen = latest.get(device_id)
            c.execute("UPDATE devices SET replay_highest = ?, replay_bitmap = ?, "
                      "last_seen = max(coalesce(last_seen, 0), ?) WHERE device_id = ?",
                      (highest, _to_i64(bitmap), seen.received_at if seen else 0, device_id))
        for device_id, fields in health.items():
            sets = ", ".join(f"{k} = ?" for k in fields)
            c.execute(f"UPDATE devices SET {sets} WHERE device_id = ?",
                      (*fields.values(), device_id))

    def add_hub_event(self, name: str, received_at: float, resident_id: str | None,
                      device_id: str | None = None, detail: dict[str, Any] | None = None
                      ) -> StoredEvent:
        """Store an event the hub itself decided (away set by command, rejected frames)."""
        msg: dict[str, Any] = {"type": "hub", "event": name}
        if device_id is not None:
            msg["device"] = device_id
        if detail:
            msg.update(detail)
        row = self._event_values(received_at, None, None, resident_id, msg)
        with self.transaction() as c:
            cur = c.execute("INSERT INTO events (received_at, device_id, seq, resident_id, type, "
                            "name, value, device_time, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            row)
        assert cur.lastrowid is not None
        return StoredEvent(cur.lastrowid, received_at, None, None, resident_id, "hub", name,
                           row[6], None, msg)

    def _event_row(self, r: Sequence[Any]) -> StoredEvent:
        return StoredEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]))

    _EVENT_COLUMNS = ("id, received_at, device_id, seq, resident_id, type, name, value, "
                      "device_time, body")

    def events(self, since: float = 0.0, until: float | None = None, limit: int | None = None,
               device_id: str | None = None, after_id: int = 0,
               event_type: str | None = None) -> Iterator[StoredEvent]:
        sql = f"SELECT {self._EVENT_COLUMNS} FROM events WHERE received_at >= ? AND id > ?"
        args: list[Any] = [since, after_id]
        if until is not None:
            sql += " AND received_at < ?"
            args.append(until)
        if device_id is not None:
            sql += " AND device_id = ?"
            args.append(device_id)
        if event_type is not None:
            sql += " AND type = ?"
            args.append(event_type)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for r in self.conn.execute(sql, args):
            yield self._event_row(r)

    def event_count(self) -> int:
        n: int = self.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return n

    def last_event_id(self) -> int:
        """The id of the newest stored event (0 if none): ``events(after_id=...)`` with it
        yields exactly what is stored later, since a new row gets the next id after the largest
        (``store_frames``, and SQLite for an INTEGER PRIMARY KEY). Only a prune of the newest
        rows could hand an id out again, and prune keeps the recent ones."""
        last: int = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        return last

    # -- rejections -----------------------------------------------------------------------------

    def add_rejections(self, counts: dict[tuple[str, str], int], now: float) -> None:
        if not counts:
            return
        with self.transaction() as c:
            c.executemany("INSERT INTO rejections (device_id, reason, count, last_at) "
                          "VALUES (?, ?, ?, ?) ON CONFLICT (device_id, reason) DO UPDATE SET "
                          "count = count + excluded.count, last_at = excluded.last_at",
                          [(d, r, n, now) for (d, r), n in counts.items()])

    def rejections(self) -> list[dict[str, Any]]:
        return [{"device_id": r[0], "reason": r[1], "count": r[2], "last_at": r[3]}
                for r in self.conn.execute("SELECT device_id, reason, count, last_at FROM "
                                           "rejections ORDER BY device_id, reason")]

    # -- alarms ---------------------------------------------------------------------------------

    def alarm_exists(self, alarm_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM alarms WHERE alarm_id = ?",
                                 (alarm_id,)).fetchone() is not None

    def raise_alarm(self, alarm_id: str, kind: str, priority: int, resident_id: str,
                    device_id: str | None, raised_at: float, description: str,
                    cause_event_ids: Iterable[int]) -> bool:
        """Record a raised alarm; False if that alarm id exists already (replay after restart)."""
        with self.transaction() as c:
            cur = c.execute("INSERT OR IGNORE INTO alarms (alarm_id, kind, priority, "
                            "resident_id, device_id, state, raised_at, description, "
                            "cause_event_ids) VALUES (?, ?, ?, ?, ?, 'raised', ?, ?, ?)",
                            (alarm_id, kind, priority, resident_id, device_id, raised_at,
                             description, json.dumps(sorted(set(cause_event_ids)))))
            return cur.rowcount == 1

    def set_alarm_state(self, alarm_id: str, state: str, at: float) -> bool:
        """Move an alarm forward in its life cycle; never backwards (resolved stays resolved)."""
        rank = ALARM_STATES.index(state)
        column = {"forwarded": "forwarded_at", "acknowledged": "acknowledged_at",
                  "resolved": "resolved_at"}.get(state)
        with self.transaction() as c:
            row = c.execute("SELECT state FROM alarms WHERE alarm_id = ?", (alarm_id,)).fetchone()
            if row is None:
                return False
            if column is not None:
                c.execute(f"UPDATE alarms SET {column} = coalesce({column}, ?) "
                          "WHERE alarm_id = ?", (at, alarm_id))
            if ALARM_STATES.index(row[0]) < rank:
                c.execute("UPDATE alarms SET state = ? WHERE alarm_id = ?", (state, alarm_id))
                return True
            return False

    def add_delivery(self, alarm_id: str, event: str, receiver: str, ok: bool, detail: str,
                     at: float) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO alarm_deliveries (alarm_id, at, event, receiver, ok, detail) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (alarm_id, at, event, receiver, int(ok),
                                                    detail[:500]))

    def alarms(self, open_only: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
        sql = ("SELECT alarm_id, kind, priority, resident_id, device_id, state, raised_at, "
               "forwarded_at, acknowledged_at, resolved_at, description, cause_event_ids "
               "FROM alarms")
        if open_only:
            sql += " WHERE state != 'resolved'"
        sql += " ORDER BY raised_at DESC LIMIT ?"
        keys = ("alarm_id", "kind", "priority", "resident_id", "device_id", "state", "raised_at",
                "forwarded_at", "acknowledged_at", "resolved_at", "description")
        out = []
        for r in self.conn.execute(sql, (limit,)):
            d = dict(zip(keys, r[:11], strict=True))
            d["cause_event_ids"] = json.loads(r[11])
            out.append(d)
        return out

    # -- commands -------------------------------------------------------------------------------

    def add_command(self, device_id: str, body: dict[str, Any], now: float) -> int:
        """Queue a command (without command_id: the row id becomes it). Returns the id."""
        with self.transaction() as c:
            cur = c.execute("INSERT INTO commands (device_id, body, state, created_at, "
                            "next_attempt_at) VALUES (?, ?, 'pending', ?, ?)",
                            (device_id, json.dumps(body, sort_keys=True), now, now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def due_commands(self, now: float, devices: Collection[str] = ()
                     ) -> list[tuple[int, str, dict[str, Any], int, float]]:
        """Pending commands whose next attempt is due, and every pending one of ``devices``
        (devices awake now), oldest first."""
        ids = sorted(devices)
        either = f" OR device_id IN ({', '.join('?' * len(ids))})" if ids else ""
        return [(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in self.conn.execute(
            "SELECT command_id, device_id, body, attempts, created_at FROM commands "
            f"WHERE state = 'pending' AND (next_attempt_at <= ?{either}) ORDER BY command_id",
            (now, *ids))]

    def command_sent(self, command_id: int, next_attempt_at: float) -> None:
        with self.transaction() as c:
            c.execute("UPDATE commands SET attempts = attempts + 1, next_attempt_at = ? "
                      "WHERE command_id = ?", (next_attempt_at, command_id))

    def finish_command(self, command_id: int, device_id: str | None, state: str, detail: str,
                       now: float) -> bool:
        """Record a command's outcome; only a pending command of that device changes."""
        with self.transaction() as c:
            sql = ("UPDATE commands SET state = ?, detail = ?, finished_at = ? "
                   "WHERE command_id = ? AND state = 'pending'")
            args: list[Any] = [state, detail, now, command_id]
            if device_id is not None:
                sql += " AND device_id = ?"
                args.append(device_id)
            return c.execute(sql, args).rowcount == 1

    def commands(self, limit: int = 200) -> list[dict[str, Any]]:
        keys = ("command_id", "device_id", "body", "state", "created_at", "attempts",
                "next_attempt_at", "finished_at", "detail")
        out = []
        for r in self.conn.execute("SELECT command_id, device_id, body, state, created_at, "
                                   "attempts, next_attempt_at, finished_at, detail FROM commands "
                                   "ORDER BY command_id DESC LIMIT ?", (limit,)):
            d = dict(zip(keys, r, strict=True))
            d["body"] = json.loads(d["body"])
            out.append(d)
        return out

    # -- hub sender sequence (protocol.sequence storage) ----------------------------------------

    def sequence_storage(self, device_id: str) -> SequenceSlots:
        return SequenceSlots(self.conn, device_id)

    # -- retention ------------------------------------------------------------------------------

    def prune(self, events_before: float, alarms_before: float) -> int:
        """Delete events older than ``events_before`` except those that caused an alarm raised
        after ``alarms_before``; delete resolved alarms older than ``alarms_before``. Records
        per device the highest pruned sequence number so late frames are still judged right.
        Returns the number of events deleted."""
        with self.transaction() as c:
            c.execute("DELETE FROM alarm_deliveries WHERE alarm_id IN (SELECT alarm_id FROM "
                      "alarms WHERE state = 'resolved' AND raised_at < ?)", (alarms_before,))
            c.execute("DELETE FROM alarms WHERE state = 'resolved' AND raised_at < ?",
                      (alarms_before,))
            keep: set[int] = set()
            for (ids,) in c.execute("SELECT cause_event_ids FROM alarms"):
                keep.update(json.loads(ids))
            c.execute("CREATE TEMP TABLE IF NOT EXISTS keep_events (id INTEGER PRIMARY KEY)")
            c.execute("DELETE FROM keep_events")
            c.executemany("INSERT INTO keep_events (id) VALUES (?)", [(i,) for i in keep])
            c.execute("UPDATE devices SET pruned_seq = max(pruned_seq, coalesce((SELECT max(seq) "
                      "FROM events WHERE events.device_id = devices.device_id AND "
                      "received_at < ?), -1))", (events_before,))
            cur = c.execute("DELETE FROM events WHERE received_at < ? AND id NOT IN "
                            "(SELECT id FROM keep_events)", (events_before,))
            c.execute("DELETE FROM commands WHERE state != 'pending' AND created_at < ?",
                      (events_before,))
            return cur.rowcount


class SequenceSlots:
    """``protocol.sequence`` storage in ``hub_sequence``: each write is its own durable commit
    (the counter hands out numbers only after ``write`` returned: RFC 8613 Appendix B.1.1)."""

    def __init__(self, conn: sqlite3.Connection, device_id: str) -> None:
        self.conn = conn
        self.device_id = device_id

    def read(self, slot: int) -> bytes | None:
        row = self.conn.execute("SELECT record FROM hub_sequence WHERE device_id = ? AND "
                                "slot = ?", (self.device_id, slot)).fetchone()
        return None if row is None else bytes(row[0])

    def write(self, slot: int, record: bytes) -> None:
        if self.conn.in_transaction:
            raise RuntimeError("sequence bound must be committed on its own, not inside a batch")
        self.conn.execute("INSERT OR REPLACE INTO hub_sequence (device_id, slot, record) "
                          "VALUES (?, ?, ?)", (self.device_id, slot, record))
