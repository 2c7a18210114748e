"""COSE_Mac0 (RFC 9052 §6.2) frames with HMAC-SHA-256, sans I/O.

A Trygg frame is::

    17([ protected: bstr .cbor {1: alg, 6: partial_iv},
         unprotected: {4: kid},
         payload: bstr .cbor message,
         tag: bstr ])

* ``alg`` is 4 (HMAC 256/64, the 8-byte tag OSCORE uses on constrained
  devices, RFC 9053 §3.1) by default; 5 (HMAC 256/256) is accepted.
* ``partial_iv`` (header 6, RFC 9052 §3.1) carries the sender's sequence number
  as a big-endian byte string with no leading zeros, 1 to 5 bytes, exactly as
  OSCORE encodes it (RFC 8613 §6.1). It sits in the *protected* header so it is
  covered by the MAC and can be replay-checked before the payload is decoded.
* ``kid`` (header 4) is the sender's device id: it selects the key.
* The external AAD (RFC 9052 §4.3) binds the direction, so a device->hub frame
  can never be reflected back to a device as a command or the other way round.
"""

import hashlib

from . import cbor
from .errors import (
    BAD_ALG,
    BAD_HEADER,
    BAD_KEY,
    BAD_MAC,
    MALFORMED,
    OVERSIZED,
    SEQUENCE_EXHAUSTED,
    TRUNCATED,
    UNKNOWN_KID,
    WRONG_TAG,
    ProtocolError,
)

_hmac_digest: "Any" = None
_compare: "Any" = None
try:  # CPython: OpenSSL's one-shot HMAC, ~10x faster than the fallback.
    import hmac as _hmac  # type: ignore[import-not-found, unused-ignore]

    _hmac_digest, _compare = _hmac.digest, _hmac.compare_digest
except (ImportError, AttributeError):
    # MicroPython: the ESP32 port has no hmac; the WebAssembly port's lacks digest.
    pass

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing exists on CPython only; annotations are never evaluated on the device
    from typing import Any

ALG_HMAC_256_64 = 4  # RFC 9053 §3.1, Table 3
ALG_HMAC_256_256 = 5
TAG_LENGTHS = {ALG_HMAC_256_64: 8, ALG_HMAC_256_256: 32}

COSE_MAC0_TAG = 17  # RFC 9052 §2
HEADER_ALG = 1
HEADER_KID = 4
HEADER_PARTIAL_IV = 6

KEY_SIZE = 32  # 256-bit per-device keys
MAX_KID_SIZE = 16
# The ESP-NOW payload limit is 250 bytes; every device->hub frame must fit it
# (asserted by the size tests). A little slack is allowed on input so that the
# hub can reject an oversized frame as OVERSIZED rather than as garbage, but
# never more than this many bytes are parsed.
MAX_FRAME_SIZE = 256
ESPNOW_MAX_PAYLOAD = 250
# OSCORE's Partial IV is at most 5 bytes (RFC 8613 §6.1): 2**40 - 1.
MAX_SEQ = (1 << 40) - 1

UP = 0  # device -> hub
DOWN = 1  # hub -> device
# External AAD per direction (RFC 9052 §4.3).
_EXTERNAL_AAD = (b"trygg/1/up", b"trygg/1/down")

_MAC0_CONTEXT = b"\x64MAC0"  # tstr "MAC0", RFC 9052 §6.3
_FRAME_HEAD = b"\xd1\x84"  # tag 17, array of 4


class MacKey:
    """A 256-bit HMAC-SHA-256 key, prepared once for fast repeated use."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
            raise ProtocolError(BAD_KEY, "key must be %d bytes" % KEY_SIZE)
        self.key = bytes(key)
        if _hmac_digest is None:
            # RFC 2104: block size 64; the key is shorter so it is zero-padded.
            padded = self.key + bytes(64 - KEY_SIZE)
            self._ipad = bytes([b ^ 0x36 for b in padded])
            self._opad = bytes([b ^ 0x5C for b in padded])

    def mac(self, data: bytes) -> bytes:
        """Return HMAC-SHA-256(key, data), all 32 bytes."""
        if _hmac_digest is not None:
            digest: bytes = _hmac_digest(self.key, data, "sha256")
            return digest
        inner = hashlib.sha256(self._ipad)
        inner.update(data)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()


def _equal(a: bytes, b: bytes) -> bool:
    # Constant time, so a forger learns nothing from how long rejection takes.
    if _compare is not None:
        same: bool = _compare(a, b)
        return same
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _bstr_head(n: int) -> bytes:
    if n < 24:
        return bytes((0x40 | n,))
    if n < 256:
        return bytes((0x58, n))
    return bytes((0x59, n >> 8, n & 0xFF))


def encode_partial_iv(seq: int) -> bytes:
    """Sequence number -> Partial IV bytes (RFC 8613 §6.1: no leading zeros)."""
    if seq < 0 or seq > MAX_SEQ:
        raise ProtocolError(SEQUENCE_EXHAUSTED, "sequence number %d out of range" % seq)
    n = 1
    while seq >> (8 * n):
        n += 1
    return seq.to_bytes(n, "big")


def protected_header(alg: int, seq: int) -> bytes:
    """The serialized protected header ``{1: alg, 6: piv}`` (canonical order)."""
    if alg not in TAG_LENGTHS:
        raise ProtocolError(BAD_ALG, "algorithm %r not supported" % (alg,))
    piv = encode_partial_iv(seq)
    return bytes((0xA2, 0x01, alg, 0x06, 0x40 | len(piv))) + piv


def mac_structure(protected: bytes, direction: int, payload: bytes) -> bytes:
    """``MAC_structure`` of RFC 9052 §6.3, serialized deterministically."""
    aad = _EXTERNAL_AAD[direction]
    return b"".join(
        (
            b"\x84",
            _MAC0_CONTEXT,
            _bstr_head(len(protected)),
            protected,
            _bstr_head(len(aad)),
            aad,
            _bstr_head(len(payload)),
            payload,
        )
    )


def seal(payload: bytes, key: MacKey, kid: bytes, seq: int, direction: int,
         alg: int = ALG_HMAC_256_64, limit: "int | None" = MAX_FRAME_SIZE) -> bytes:
    """Wrap an encoded message in a COSE_Mac0 frame.

    Raises ``ProtocolError`` for an unsupported algorithm, a sequence number
    out of range, a kid of the wrong size, or (OVERSIZED) a frame longer than
    ``limit`` -- what every receiver would refuse. ``limit=None`` is for tests
    that need a correctly MACed frame that is too long.
    """
    if not 1 <= len(kid) <= MAX_KID_SIZE:
        raise ProtocolError(BAD_HEADER, "kid must be 1..%d bytes" % MAX_KID_SIZE)
    if len(payload) > 0xFFFF:
        raise ProtocolError(OVERSIZED, "payload of %d bytes" % len(payload))
    protected = protected_header(alg, seq)
    tag = key.mac(mac_structure(protected, direction, payload))[: TAG_LENGTHS[alg]]
    frame = b"".join(
        (
            _FRAME_HEAD,
            _bstr_head(len(protected)),
            protected,
            bytes((0xA1, HEADER_KID, 0x40 | len(kid))),
            kid,
            _bstr_head(len(payload)),
            payload,
            _bstr_head(len(tag)),
            tag,
        )
    )
    if limit is not None and len(frame) > limit:
        # Refuse here what every receiver would refuse (and ESP-NOW could not carry).
        raise ProtocolError(OVERSIZED, "frame of %d bytes, limit %d" % (len(frame), limit))
    return frame


class Envelope:
    """A frame whose MAC verified. ``payload`` is still undecoded bytes."""

    __slots__ = ("alg", "kid", "payload", "seq")

    def __init__(self, kid: bytes, seq: int, alg: int, payload: bytes) -> None:
        self.kid = kid
        self.seq = seq
        self.alg = alg
        self.payload = payload


def parse(data: bytes) -> "tuple[bytes, int, int, bytes, bytes, bytes]":
    """Split a frame into ``(protected, alg, seq, kid, payload, tag)``.

    Structure only: nothing is verified. Used by :func:`open_frame` and by
    tools that show a frame without its key. Raises ``ProtocolError``.
    """
    n = len(data)
    if n > MAX_FRAME_SIZE:
        raise ProtocolError(OVERSIZED, "%d bytes, limit %d" % (n, MAX_FRAME_SIZE))
    if n == 0:
        raise ProtocolError(TRUNCATED, "empty frame")
    if data[0] != 0xD1:
        if data[0] >> 5 == 6:
            raise ProtocolError(WRONG_TAG, "expected COSE_Mac0 tag 17")
        raise ProtocolError(MALFORMED, "not a tagged COSE_Mac0 frame")
    if n < 2:
        raise ProtocolError(TRUNCATED, "frame ends after the tag")
    if data[1] != 0x84:
        raise ProtocolError(MALFORMED, "COSE_Mac0 must be an array of 4")
    data = bytes(data)
    protected, pos = _bstr(data, 2, n, "protected header")
    if pos < n and data[pos] == 0xA1 and pos + 2 < n and data[pos + 1] == HEADER_KID:
        # Fast path for the only unprotected header we accept: {4: kid}.
        kid_bytes, pos = _bstr(data, pos + 2, n, "kid")
        unprotected: Any = {HEADER_KID: kid_bytes}
    else:
        unprotected, pos = cbor.decode_item(data, pos, n, 1)
    payload, pos = _bstr(data, pos, n, "payload")
    tag, pos = _bstr(data, pos, n, "tag")
    if pos != n:
        raise ProtocolError(MALFORMED, "%d bytes after the frame" % (n - pos))
    if not isinstance(unprotected, dict) or len(unprotected) != 1:
        raise ProtocolError(BAD_HEADER, "unprotected header must be exactly {4: kid}")
    kid = unprotected.get(HEADER_KID)
    if not isinstance(kid, bytes) or not 1 <= len(kid) <= MAX_KID_SIZE:
        raise ProtocolError(BAD_HEADER, "kid must be a byte string of 1..%d bytes" % MAX_KID_SIZE)
    alg, seq = _parse_protected(protected)
    if len(tag) != TAG_LENGTHS[alg]:
        raise ProtocolError(BAD_MAC, "tag is %d bytes, alg %d needs %d" % (len(tag), alg,
                                                                           TAG_LENGTHS[alg]))
    return protected, alg, seq, kid, payload, tag


def _bstr(data: bytes, pos: int, n: int, what: str) -> "tuple[bytes, int]":
    # One byte string with a canonical head (frames are <= 256 bytes, so at
    # most a one-byte length). Anything else goes to the generic decoder,
    # which names the exact problem.
    if pos < n:
        ib = data[pos]
        if 0x40 <= ib < 0x58:
            length = ib - 0x40
            pos += 1
        elif ib == 0x58 and pos + 1 < n and data[pos + 1] >= 24:
            length = data[pos + 1]
            pos += 2
        else:
            cbor.decode_item(data, pos, n, 1)
            raise ProtocolError(MALFORMED, what + " must be a byte string")
        if length > n - pos:
            raise ProtocolError(TRUNCATED, what + " at byte %d needs %d bytes" % (pos, length))
        return data[pos : pos + length], pos + length
    raise ProtocolError(TRUNCATED, what + " expected at byte %d" % pos)


def _parse_protected(protected: bytes) -> "tuple[int, int]":
    # Exactly the canonical encoding of {1: alg, 6: piv}: a2 01 <alg> 06 4n <piv>.
    # Anything else (extra parameters, "crit", another order) is refused:
    # RFC 9052 §3 lets a recipient reject headers it does not understand.
    n = len(protected)
    if n < 6 or protected[0] != 0xA2 or protected[1] != 0x01 or protected[3] != 0x06:
        # Decode it anyway to tell garbage from a header we just do not take.
        header = cbor.decode(protected)
        if not isinstance(header, dict):
            raise ProtocolError(BAD_HEADER, "protected header is not a map")
        if header.get(HEADER_ALG) not in TAG_LENGTHS and HEADER_ALG in header:
            raise ProtocolError(BAD_ALG, "algorithm %r not supported" % (header[HEADER_ALG],))
        raise ProtocolError(BAD_HEADER, "protected header must be exactly {1: alg, 6: piv}")
    alg = protected[2]
    if alg not in TAG_LENGTHS:
        raise ProtocolError(BAD_ALG, "algorithm %d not supported" % alg)
    piv_len = protected[4] - 0x40
    if piv_len < 1 or piv_len > 5 or n != 5 + piv_len:
        raise ProtocolError(BAD_HEADER, "Partial IV must be 1..5 bytes")
    piv = protected[5:]
    if piv_len > 1 and piv[0] == 0:
        raise ProtocolError(BAD_HEADER, "Partial IV has leading zeros (RFC 8613 §6.1)")
    return alg, int.from_bytes(piv, "big")


def open_frame(data: bytes, direction: int, key_for_kid: "Any") -> Envelope:
    """Parse and authenticate a frame; return its :class:`Envelope`.

    ``key_for_kid(kid) -> MacKey | None`` looks up the sender's key.
    The payload is NOT decoded: replay-check ``envelope.seq`` first, then call
    :func:`protocol.messages.decode`. Raises ``ProtocolError``.
    """
    protected, alg, seq, kid, payload, tag = parse(data)
    key = key_for_kid(kid)
    if key is None:
        raise ProtocolError(UNKNOWN_KID, "no key for kid " + _hex(kid))
    expected = key.mac(mac_structure(protected, direction, payload))[: len(tag)]
    if not _equal(expected, tag):
        raise ProtocolError(BAD_MAC, "frame from kid %s seq %d does not verify" % (_hex(kid), seq))
    return Envelope(kid, seq, alg, payload)


def _hex(b: bytes) -> str:
    return "".join(["%02x" % x for x in b])
