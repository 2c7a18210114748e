"""The persistent outbox: sealed frames kept on flash until the hub acks them.

Invariant 2 of the architecture: nothing acknowledged is ever lost, so a frame
is written to flash (hw/storage.py, atomic per record) *before* it is first
sent and deleted only when the hub's ``ack`` names its sequence number; after
a power loss the frames left on flash are sent again, in the same order.

Each frame has a class:

* TELEMETRY (heartbeats) -- dropped first, oldest first, when the outbox is
  full; counted in the next heartbeat's ``dropped``;
* REPORT (hello, command results, motion, calibration) -- dropped only when
  the outbox has reached twice its capacity and no telemetry is left;
* ALARM (door, bed, dose, dispenser, tamper, fall...) -- never dropped;
* URGENT (smoke alarm, clear, test, fault) -- never dropped and sent ahead
  of everything queued: a fire must never wait behind telemetry.

Frames are sent URGENT first, then by sequence number; a frame that was sent
is sent again after ``resend_s``, doubling up to ``resend_max_s``, until acked.
On flash a frame is the record ``o<class><seq as 10 hex digits>``; in RAM the
outbox keeps only ``[seq, class, due_ms, attempts]`` per frame.
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

TELEMETRY = const(0)
REPORT = const(1)
ALARM = const(2)
URGENT = const(3)

_PREFIX = const("o")
# Fields of an entry.
_SEQ = const(0)
_CLS = const(1)
_DUE = const(2)
_TRIES = const(3)
_MAX_DOUBLINGS = const(16)


def _name(seq: int, cls: int) -> str:
    return "%s%d%010x" % (_PREFIX, cls, seq)


class Outbox:
    def __init__(self, storage: "Any", capacity: int, resend_ms: int, resend_max_ms: int) -> None:
        self._storage = storage
        self.capacity = capacity
        self._resend_ms = resend_ms
        self._resend_max_ms = resend_max_ms
        self.dropped = 0
        # One frame buffer for every (re)send, allocated once: a frame is at most 256 bytes
        # (protocol.cose.MAX_FRAME_SIZE); one byte more tells a longer, damaged record.
        self._buf = bytearray(257)
        self._bufv = memoryview(self._buf)
        self.entries: list[list[int]] = []
        for name in storage.names(_PREFIX):
            try:
                cls = int(name[1])
                seq = int(name[2:], 16)
            except ValueError:
                storage.delete(name)  # not ours or damaged: never sendable
                continue
            self.entries.append([seq, cls, 0, 0])
        self._sort()

    def _sort(self) -> None:
        self.entries.sort(key=lambda e: (0 if e[_CLS] == URGENT else 1, e[_SEQ]))

    def __len__(self) -> int:
        return len(self.entries)

    def _drop(self, cls: int) -> bool:
        """Delete the oldest frame of class ``cls``; False if there is none."""
        for e in self.entries:
            if e[_CLS] == cls:
                self._remove(e)
                return True
        return False

    def _remove(self, e: "list[int]") -> None:
        self._storage.delete(_name(e[_SEQ], e[_CLS]))
        self.entries.remove(e)

    def put(self, frame: bytes, seq: int, cls: int) -> bool:
        """Store a sealed frame; False if it was telemetry dropped for lack of room."""
        n = len(self.entries)
        if n >= self.capacity:
            if cls == TELEMETRY or not self._drop(TELEMETRY):
                if cls == TELEMETRY:
                    self.dropped += 1
                    return False
                if n >= 2 * self.capacity and cls == REPORT:
                    self._drop(REPORT)
            else:
                self.dropped += 1
        self._storage.write(_name(seq, cls), frame)
        self.entries.append([seq, cls, 0, 0])
        if cls == URGENT:
            self._sort()
        return True

    def read(self, e: "list[int]") -> "Any":
        """The frame, as a view of a buffer reused by the next read; None if it is lost."""
        n = self._storage.read_into(_name(e[_SEQ], e[_CLS]), self._buf)
        return None if n < 0 else self._bufv[:n]

    def next_due(self, now_ms: int) -> "list[int] | None":
        """The first frame (in send order) whose (re)send time has come."""
        for e in self.entries:
            if e[_TRIES] == 0 or now_ms - e[_DUE] >= 0:
                return e
        return None

    def sent(self, e: "list[int]", now_ms: int) -> None:
        tries = min(e[_TRIES], _MAX_DOUBLINGS)
        e[_DUE] = now_ms + min(self._resend_ms << tries, self._resend_max_ms)
        e[_TRIES] += 1

    def resend_all(self) -> None:
        """After a reconnect: everything unacked goes out again at once, in order."""
        for e in self.entries:
            e[_TRIES] = 0

    def ack(self, ranges: "list[list[int]]") -> int:
        """Delete the frames the hub has stored; return how many."""
        done = 0
        for e in list(self.entries):
            seq = e[_SEQ]
            for r in ranges:
                if r[0] <= seq <= r[1]:
                    self._remove(e)
                    done += 1
                    break
        return done
