"""Receiver-side replay protection: a 64-entry sliding window.

The algorithm of RFC 4303 §3.4.3 (IPsec ESP), which OSCORE also uses
(RFC 8613 §7.4): remember the highest sequence number accepted and a bitmap
of which of the 64 numbers at and below it were seen. A frame is accepted
once; anything left of the window is refused as too old, because we can no
longer tell whether it was seen.

Sans I/O: the owner persists ``state()`` (the hub in SQLite, in the same
transaction as the event; the device in flash) and restores it with
``ReplayWindow(*state)``.
"""

from .errors import REPLAYED, TOO_OLD, ProtocolError

WINDOW_SIZE = 64  # RFC 8613 §7.4 default; RFC 4303 recommends at least 32
_FULL = (1 << WINDOW_SIZE) - 1


class ReplayWindow:
    """Which sequence numbers of one sender have been accepted."""

    def __init__(self, highest: int = -1, bitmap: int = 0) -> None:
        # bit i of bitmap set <=> sequence number (highest - i) was accepted.
        self.highest = highest
        self.bitmap = bitmap & _FULL

    def check(self, seq: int) -> None:
        """Raise ``ProtocolError`` (REPLAYED or TOO_OLD) unless ``seq`` is new.

        Does not record ``seq``: call :meth:`accept` once the frame has been
        fully processed (for the hub: durably stored), so a frame that fails
        later can be sent again.
        """
        if seq > self.highest:
            return
        offset = self.highest - seq
        if offset >= WINDOW_SIZE:
            raise ProtocolError(TOO_OLD, "seq %d is more than %d below %d" % (
                seq, WINDOW_SIZE, self.highest))
        if (self.bitmap >> offset) & 1:
            raise ProtocolError(REPLAYED, "seq %d already accepted" % seq)

    def accept(self, seq: int) -> None:
        """Check ``seq`` and record it as accepted."""
        self.check(seq)
        if seq > self.highest:
            shift = seq - self.highest
            if shift >= WINDOW_SIZE:
                self.bitmap = 1
            else:
                self.bitmap = ((self.bitmap << shift) | 1) & _FULL
            self.highest = seq
        else:
            self.bitmap |= 1 << (self.highest - seq)

    def seen(self, seq: int) -> bool:
        """True if ``seq`` was accepted (or is too old to tell)."""
        try:
            self.check(seq)
        except ProtocolError:
            return True
        return False

    def state(self) -> "tuple[int, int]":
        return (self.highest, self.bitmap)
