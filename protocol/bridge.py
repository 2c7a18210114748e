"""The serial line between the hub and its ESP-NOW bridge, sans I/O.

The bridge is an ESP32 on the hub's USB port (firmware/roles/bridge.py) that passes
frames between battery devices on ESP-NOW and the hub. The line is the bridge's
console UART, which MicroPython's own prints and a technician's REPL share, so every
Trygg line is marked, self-delimited and checked:

    ~<kind><address: 12 hex digits>,<data: base64>,<CRC-32 of what precedes it: 8 hex>\\n

Kinds:

* ``U`` bridge -> hub: a frame heard on ESP-NOW from the address (a MAC), or the
  bridge's own frame (its address: ``mac_for`` of its device id);
* ``D`` hub -> bridge: a frame for the address (an ack or a command), kept in the
  bridge's mailbox for that address until the device is next awake;
* ``K`` bridge -> hub: credit, the number of ``D`` lines the bridge can take now (its
  free mailbox room) in the address field; sent at boot, after each ``D`` and in answer
  to ``S``. The hub sends no more ``D`` than its credit: flow control that survives
  a bridge reboot (a fresh credit) and a pulled cable (``S`` after reopening);
* ``S`` hub -> bridge: asks for the credit.

Anything else on the line (a print, a REPL banner, a torn line after a cable pull) is
not a Trygg line: :func:`decode` returns None and the reader counts it as noise. A marked
line whose CRC or shape is wrong raises ``ProtocolError(MALFORMED)``. The CRC (the
IEEE 802.3 CRC-32 of ``binascii.crc32``) catches line noise; authenticity is the COSE
frame's business, end to end: the bridge holds no keys and is trusted with nothing.

Nothing here is acknowledged on the line itself: a frame lost on it is a frame the hub
never acked (or an ack the device never got), and the device's outbox sends it again
(ARCHITECTURE invariant 2 holds end to end, whatever the cable does).
"""

import binascii

from .cose import MAX_FRAME_SIZE
from .errors import MALFORMED, OVERSIZED, ProtocolError

UPLINK = "U"
DOWNLINK = "D"
CREDIT = "K"
SYNC = "S"
KINDS = UPLINK + DOWNLINK + CREDIT + SYNC

MARK = 0x7E  # "~"
ADDRESS_DIGITS = 12
# "~" kind address "," base64 of a 256-byte frame (344) "," crc (8) "\n"
MAX_LINE = 1 + 1 + ADDRESS_DIGITS + 1 + 344 + 1 + 8 + 1
BROADCAST = b"\xff" * 6

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing exists on CPython only
    from typing import Any


def mac_for(device_id: bytes) -> bytes:
    """The ESP-NOW (Wi-Fi station) MAC a battery device with ``device_id`` (6 bytes) uses:
    its id with the first octet made a locally administered unicast address (IEEE 802
    §8.2.2: bit 0 clear = unicast, bit 1 set = local). The hub addresses its acks and
    commands by it, so a neighbour who forges a sender address diverts nothing."""
    return bytes(((device_id[0] & 0xFC) | 0x02,)) + device_id[1:6]


def encode(kind: str, address: "Any", data: bytes = b"") -> bytes:
    """One line; ``address`` is 6 bytes (a MAC) or, for ``K``, a count."""
    addr = ("%012x" % address if isinstance(address, int)
            else binascii.hexlify(address).decode())
    body = "%s%s,%s" % (kind, addr, binascii.b2a_base64(data, newline=False).decode())
    return ("~%s,%08x\n" % (body, binascii.crc32(body.encode()) & 0xFFFFFFFF)).encode()


def decode(line: "Any") -> "tuple[str, bytes, bytes] | None":
    """``(kind, address, data)`` of a Trygg line (address: 6 bytes); None when the line is
    not one (console output); ``ProtocolError(MALFORMED)`` when a marked line is damaged,
    ``ProtocolError(OVERSIZED)`` when it is too long to be one."""
    n = len(line)
    while n and line[n - 1] in (10, 13):  # "\n", "\r"
        n -= 1
    start = 0
    while start < n and line[start] != MARK:  # a line torn by a pull, then a mark
        start += 1
    if start == n:
        return None
    if n - start > MAX_LINE:
        raise ProtocolError(OVERSIZED, "bridge line of %d bytes" % (n - start))
    text = bytes(line[start + 1:n])
    cut = text.rfind(b",")
    if cut < 0 or n - start - 1 - cut != 9:
        raise ProtocolError(MALFORMED, "bridge line without its CRC")
    body = text[:cut]
    try:
        crc = int(text[cut + 1:], 16)
    except ValueError:
        raise ProtocolError(MALFORMED, "bridge line CRC is not hex") from None
    if binascii.crc32(body) & 0xFFFFFFFF != crc:
        raise ProtocolError(MALFORMED, "bridge line CRC mismatch")
    kind = chr(body[0]) if body else ""
    if kind not in KINDS or len(body) < 1 + ADDRESS_DIGITS + 1 \
            or body[1 + ADDRESS_DIGITS] != 44:  # ","
        raise ProtocolError(MALFORMED, "bridge line of unknown shape")
    try:
        address = binascii.unhexlify(body[1:1 + ADDRESS_DIGITS])
        data = binascii.a2b_base64(body[2 + ADDRESS_DIGITS:])
    except ValueError:
        raise ProtocolError(MALFORMED, "bridge line address or data not decodable") from None
    if len(data) > MAX_FRAME_SIZE:
        raise ProtocolError(OVERSIZED, "bridged frame of %d bytes" % len(data))
    return kind, address, data


def count_of(address: bytes) -> int:
    """The number a ``K`` line carries in its address field."""
    return int.from_bytes(address, "big")
