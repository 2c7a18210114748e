"""Sender sequence numbers that are never reused, even across power loss.

RFC 8613 Appendix B.1.1: writing the counter to flash on every frame would
wear the flash out, so the sender persists only an upper bound ``limit`` and
uses numbers below it. When it reaches the bound it persists the next bound
*before* using a number at or above the old one. After a power loss it
restarts at the last persisted bound, skipping at most ``step`` numbers.

The bound is written round-robin to ``slots`` reserved records, each with a
checksum, so a write torn by power loss damages at most the record being
written while the previous bound survives in another slot; and flash wear is
spread over the slots. With the default step of 1024 and a device sending a
few hundred frames a day, a record is written about every few days plus once
per boot.

Sans I/O: the owner hands in a storage object with

    read(slot: int) -> bytes | None
    write(slot: int, record: bytes) -> None   # may raise on power loss

(the firmware backs it with reserved flash files or NVS; tests with a store
that cuts the power at every write point).
"""

import hashlib

from .cose import MAX_SEQ
from .errors import SEQUENCE_EXHAUSTED, ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing exists on CPython only; annotations are never evaluated on the device
    from typing import Any

DEFAULT_STEP = 1024
DEFAULT_SLOTS = 4
_MAGIC = b"TSQ1"
RECORD_SIZE = 4 + 6 + 4  # magic, bound (48-bit big-endian), checksum


def encode_record(bound: int) -> bytes:
    body = _MAGIC + bound.to_bytes(6, "big")
    return body + hashlib.sha256(body).digest()[:4]


def decode_record(record: "Any") -> int:
    """Return the bound in ``record``, or -1 if it is missing or damaged."""
    if not isinstance(record, (bytes, bytearray)) or len(record) != RECORD_SIZE:
        return -1
    body = bytes(record[:10])
    if body[:4] != _MAGIC or hashlib.sha256(body).digest()[:4] != bytes(record[10:]):
        return -1
    return int.from_bytes(body[4:10], "big")


class SequenceCounter:
    """Hands out strictly increasing sequence numbers, persisted by bound."""

    def __init__(self, storage: "Any", step: int = DEFAULT_STEP,
                 slots: int = DEFAULT_SLOTS) -> None:
        if step < 1 or slots < 2:
            raise ValueError("step must be >= 1 and slots >= 2")
        self._storage = storage
        self._step = step
        self._slots = slots
        self._next = 0
        self._limit = 0
        self._slot = 0  # slot of the newest valid record
        self.booted = False

    def boot(self) -> int:
        """Read the slots and reserve the first block; return the first number.

        Raises whatever the storage raises on write (power loss): in that case
        nothing has been handed out and ``boot`` can simply run again.
        """
        best = -1
        best_slot = self._slots - 1
        for slot in range(self._slots):
            bound = decode_record(self._storage.read(slot))
            if bound > best:
                best = bound
                best_slot = slot
        start = best if best > 0 else 0
        self._slot = best_slot
        self._reserve(start + self._step)
        self._next = start
        self.booted = True
        return start

    def _reserve(self, limit: int) -> None:
        if limit - 1 > MAX_SEQ:
            raise ProtocolError(SEQUENCE_EXHAUSTED, "device needs a new key")
        slot = (self._slot + 1) % self._slots
        self._storage.write(slot, encode_record(limit))
        # Only after the write returned may numbers below `limit` be used.
        self._slot = slot
        self._limit = limit

    def next(self) -> int:
        """Return a sequence number never returned before, even across reboots."""
        if not self.booted:
            raise ValueError("boot() first")
        if self._next >= self._limit:
            self._reserve(self._limit + self._step)
        seq = self._next
        self._next = seq + 1
        return seq

    def peek(self) -> int:
        """The number :meth:`next` will return (for diagnostics)."""
        return self._next
