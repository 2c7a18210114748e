"""Deterministic CBOR (RFC 8949) for Trygg frames, on MicroPython and CPython.

Only the subset Trygg's schema uses: unsigned and negative integers, byte
strings, UTF-8 text strings, arrays, maps with integer or text keys, false,
true and null. Everything is encoded in the core deterministic form of
RFC 8949 §4.2.1 (shortest heads, definite lengths, map keys sorted by the
bytewise order of their encodings) so that a frame sealed on an ESP32 and the
same frame sealed on the hub are byte-identical.

The decoder is strict: it accepts only that same form and raises
``ProtocolError`` for anything else. It never recurses deeper than
``MAX_DEPTH`` and never trusts a declared length beyond the bytes actually
present, so hostile input cannot make it allocate or loop more than the input
size allows.
"""

from .errors import MALFORMED, NON_CANONICAL, TRUNCATED, UNSUPPORTED, ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing exists on CPython only; annotations are never evaluated on the device
    from typing import Any

# Deepest nesting a Trygg message needs is 4 (message map -> dose list -> dose
# entry); one spare level. Bounded so hostile input cannot exhaust the
# MicroPython stack (about 15 KB on ESP32 for the main task).
MAX_DEPTH = 5

# Largest integer our encoder and decoder handle: 64-bit heads (RFC 8949 §3.1).
_MAX_UINT = 0xFFFFFFFFFFFFFFFF


def encode(obj: object) -> bytes:
    """Encode ``obj`` deterministically.

    Raises ``ProtocolError(UNSUPPORTED)`` for types outside the subset (floats,
    sets, ...) and for integers beyond 64 bits.
    """
    out = bytearray()
    _encode(out, obj, 0)
    return bytes(out)


def encode_into(out: bytearray, obj: object) -> None:
    """Append the deterministic encoding of ``obj`` to ``out``."""
    _encode(out, obj, 0)


def _head(out: bytearray, major: int, arg: int) -> None:
    # RFC 8949 §4.2.1: "preferred serialization" -- the shortest head.
    mt = major << 5
    if arg < 24:
        out.append(mt | arg)
    elif arg < 0x100:
        out.append(mt | 24)
        out.append(arg)
    elif arg < 0x10000:
        out.append(mt | 25)
        out.extend(arg.to_bytes(2, "big"))
    elif arg < 0x100000000:
        out.append(mt | 26)
        out.extend(arg.to_bytes(4, "big"))
    elif arg <= _MAX_UINT:
        out.append(mt | 27)
        out.extend(arg.to_bytes(8, "big"))
    else:
        raise ProtocolError(UNSUPPORTED, "integer beyond 64 bits")


def _encode(out: bytearray, obj: object, depth: int) -> None:
    # bool before int: CPython's True is an int (MicroPython's is not).
    if obj is False:
        out.append(0xF4)
    elif obj is True:
        out.append(0xF5)
    elif obj is None:
        out.append(0xF6)
    elif isinstance(obj, int):
        if obj >= 0:
            _head(out, 0, obj)
        else:
            _head(out, 1, -1 - obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _head(out, 2, len(obj))
        out.extend(obj)
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        _head(out, 3, len(b))
        out.extend(b)
    elif isinstance(obj, (list, tuple)):
        if depth >= MAX_DEPTH:  # the decoder's limit, so whatever we emit reads back
            raise ProtocolError(UNSUPPORTED, "nesting deeper than %d" % MAX_DEPTH)
        _head(out, 4, len(obj))
        for item in obj:
            _encode(out, item, depth + 1)
    elif isinstance(obj, dict):
        if depth >= MAX_DEPTH:
            raise ProtocolError(UNSUPPORTED, "nesting deeper than %d" % MAX_DEPTH)
        # RFC 8949 §4.2.1: keys sorted by the bytewise lexicographic order of
        # their deterministic encodings.
        pairs: list[tuple[bytes, Any]] = []
        for k, v in obj.items():
            if not isinstance(k, (int, str)) or k is True or k is False:
                raise ProtocolError(UNSUPPORTED, "map key must be int or text")
            kbuf = bytearray()
            _encode(kbuf, k, depth + 1)
            pairs.append((bytes(kbuf), v))
        pairs.sort(key=_first)
        _head(out, 5, len(pairs))
        for kb, v in pairs:
            out.extend(kb)
            _encode(out, v, depth + 1)
    else:
        raise ProtocolError(UNSUPPORTED, "cannot encode " + type(obj).__name__)


def _first(pair: "tuple[bytes, Any]") -> bytes:
    return pair[0]


def decode(data: bytes) -> "Any":
    """Decode exactly one deterministic CBOR item filling all of ``data``.

    Raises ``ProtocolError``: TRUNCATED when the input ends inside an item,
    NON_CANONICAL for a valid but non-deterministic encoding, UNSUPPORTED for
    floats, tags, undefined and other simple values, MALFORMED for everything
    that is not well-formed CBOR or has trailing bytes.
    """
    data = bytes(data)
    value, pos = decode_item(data, 0, len(data), 0)
    if pos != len(data):
        raise ProtocolError(MALFORMED, "%d trailing bytes" % (len(data) - pos))
    return value


def decode_item(buf: bytes, pos: int, end: int, depth: int) -> "tuple[Any, int]":
    """Decode one item of ``buf[pos:end]``; return ``(value, next_pos)``.

    ``buf`` must be ``bytes`` (slices of it are returned as values).
    """
    if pos >= end:
        raise ProtocolError(TRUNCATED, "item expected at byte %d" % pos)
    ib = buf[pos]
    pos += 1
    major = ib >> 5
    info = ib & 0x1F
    if major == 7:
        # Only false, true and null: Trygg has no floats (their encodings are
        # not deterministic across runtimes without extra rules, §4.2.2).
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info == 22:
            return None, pos
        # RFC 8949 §3.3: 28..30 are reserved, 31 (break) only ends an indefinite item, and a
        # two-byte simple value below 32 is not well-formed; everything else in major type 7
        # (other simple values, undefined, floats) is well-formed but not Trygg's.
        if info >= 28 or (info == 24 and (pos >= end or buf[pos] < 32)):
            if info == 24 and pos >= end:
                raise ProtocolError(TRUNCATED, "simple value at byte %d" % (pos - 1))
            raise ProtocolError(MALFORMED, "not well-formed simple value at byte %d" % (pos - 1))
        raise ProtocolError(UNSUPPORTED, "simple value or float at byte %d" % (pos - 1))
    if info < 24:
        arg = info
    elif info == 24:
        if pos >= end:
            raise ProtocolError(TRUNCATED, "head at byte %d" % (pos - 1))
        arg = buf[pos]
        pos += 1
        if arg < 24:
            raise ProtocolError(NON_CANONICAL, "overlong head at byte %d" % (pos - 2))
    elif info < 28:
        n = 1 << (info - 24)  # 2, 4 or 8 bytes
        if end - pos < n:
            raise ProtocolError(TRUNCATED, "head at byte %d" % (pos - 1))
        arg = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
        if arg < (1 << (4 * n)):  # would have fitted in half the bytes
            raise ProtocolError(NON_CANONICAL, "overlong head at byte %d" % (pos - n - 1))
    elif info == 31:
        raise ProtocolError(NON_CANONICAL, "indefinite length at byte %d" % (pos - 1))
    else:
        raise ProtocolError(MALFORMED, "reserved additional info at byte %d" % (pos - 1))

    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major == 2 or major == 3:
        if arg > end - pos:
            raise ProtocolError(TRUNCATED, "string at byte %d needs %d bytes" % (pos, arg))
        raw = buf[pos : pos + arg]
        pos += arg
        if major == 2:
            return raw, pos
        _check_utf8(raw, pos - arg)
        return str(raw, "utf-8"), pos
    if major == 4 or major == 5:
        if depth >= MAX_DEPTH:
            raise ProtocolError(UNSUPPORTED, "nesting deeper than %d" % MAX_DEPTH)
        # Every item takes at least one byte: a count larger than what is left
        # cannot be honest, and checking now avoids looping on a huge count.
        if arg > end - pos:
            raise ProtocolError(TRUNCATED, "container at byte %d claims %d items" % (pos, arg))
        if major == 4:
            items: list[Any] = []
            for _ in range(arg):
                value, pos = decode_item(buf, pos, end, depth + 1)
                items.append(value)
            return items, pos
        result: dict[Any, Any] = {}
        prev = b""
        for i in range(arg):
            kstart = pos
            key, pos = decode_item(buf, pos, end, depth + 1)
            if not isinstance(key, (int, str)) or key is True or key is False:
                raise ProtocolError(UNSUPPORTED, "map key at byte %d is not int or text" % kstart)
            kb = buf[kstart:pos]
            if i and kb <= prev:
                # Equal: duplicate key (§5.6); smaller: not sorted (§4.2.1).
                raise ProtocolError(NON_CANONICAL, "map key at byte %d out of order" % kstart)
            prev = kb
            value, pos = decode_item(buf, pos, end, depth + 1)
            result[key] = value
        return result, pos
    # major == 6
    raise ProtocolError(UNSUPPORTED, "tag %d at byte %d" % (arg, pos - 1))


def _check_utf8(raw: bytes, where: int) -> None:
    """Reject what RFC 3629 forbids: overlong forms, surrogates, > U+10FFFF.

    MicroPython's ``str(b, 'utf-8')`` accepts all of these, CPython's does
    not; checking here keeps the two runtimes in agreement.
    """
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need = 1
            lo, hi = 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            need = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            raise ProtocolError(MALFORMED, "invalid UTF-8 in text at byte %d" % where)
        if i + need >= n:
            raise ProtocolError(MALFORMED, "truncated UTF-8 in text at byte %d" % where)
        b1 = raw[i + 1]
        if b1 < lo or b1 > hi:
            raise ProtocolError(MALFORMED, "invalid UTF-8 in text at byte %d" % where)
        for j in range(i + 2, i + need + 1):
            if raw[j] & 0xC0 != 0x80:
                raise ProtocolError(MALFORMED, "invalid UTF-8 in text at byte %d" % where)
        i += need + 1
