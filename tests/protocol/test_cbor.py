"""protocol.cbor: deterministic CBOR (RFC 8949 §4.2.1) in exactly the subset Trygg uses.

Checked against the RFC's own examples (Appendix A), against cbor2 as an independent encoder and
decoder, and -- for UTF-8, where the two runtimes' own decoders differ -- inside MicroPython.
"""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import mpy
from support.protocol import micropython_result
from trygg.protocol import cbor
from trygg.protocol.errors import MALFORMED, NON_CANONICAL, TRUNCATED, UNSUPPORTED, ProtocolError


def reason(data: bytes) -> str | None:
    try:
        cbor.decode(data)
    except ProtocolError as exc:
        return exc.reason
    return None


# --- RFC 8949 Appendix A -------------------------------------------------------------------------

# Every Appendix A example inside Trygg's subset (integers, byte and text strings, arrays, maps,
# false/true/null), with its encoding from the RFC.
RFC8949_APPENDIX_A = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
     "a56161614161626142616361436164614461656145"),
]

# Appendix A examples outside the subset, and the reason each is refused with.
RFC8949_APPENDIX_A_REFUSED = [
    ("f90000", UNSUPPORTED),  # 0.0 (half float)
    ("fa47c35000", UNSUPPORTED),  # 100000.0
    ("fb3ff199999999999a", UNSUPPORTED),  # 1.1
    ("f97c00", UNSUPPORTED),  # Infinity
    ("f7", UNSUPPORTED),  # undefined
    ("f0", UNSUPPORTED),  # simple(16)
    ("f8ff", UNSUPPORTED),  # simple(255)
    ("c249010000000000000000", UNSUPPORTED),  # bignum 18446744073709551616
    ("c074323031332d30332d32315432303a30343a30305a", UNSUPPORTED),  # tag 0 date
    ("d74401020304", UNSUPPORTED),  # tag 23
    ("d818456449455446", UNSUPPORTED),  # tag 24 embedded CBOR
    ("5f42010243030405ff", NON_CANONICAL),  # indefinite byte string
    ("7f657374726561646d696e67ff", NON_CANONICAL),  # indefinite text string
    ("9fff", NON_CANONICAL),  # indefinite empty array
    ("9f018202039f0405ffff", NON_CANONICAL),
    ("83018202039f0405ff", NON_CANONICAL),  # definite outside, indefinite inside
    ("bf61610161629f0203ffff", NON_CANONICAL),  # indefinite map
]


@pytest.mark.parametrize(("value", "encoding"), RFC8949_APPENDIX_A,
                         ids=[e for _v, e in RFC8949_APPENDIX_A])
def test_encodes_and_decodes_rfc8949_appendix_a_examples_exactly(value: Any,
                                                                  encoding: str) -> None:
    assert cbor.encode(value).hex() == encoding
    assert cbor.decode(bytes.fromhex(encoding)) == value


@pytest.mark.parametrize(("encoding", "expected"), RFC8949_APPENDIX_A_REFUSED,
                         ids=[e for e, _r in RFC8949_APPENDIX_A_REFUSED])
def test_refuses_rfc8949_appendix_a_examples_outside_the_subset(encoding: str,
                                                                expected: str) -> None:
    assert reason(bytes.fromhex(encoding)) == expected


# --- round trip of every supported type ----------------------------------------------------------

ROUND_TRIP = [
    0, 23, 24, 255, 256, 65535, 65536, 0xFFFFFFFF, 1 << 32, (1 << 64) - 1,
    -1, -24, -25, -256, -257, -(1 << 32), -(1 << 64),
    b"", b"\x00" * 23, b"\xff" * 24, b"x" * 255, b"y" * 256,
    "", "å", "x" * 24, "ø" * 200, "\U0010ffff",
    False, True, None,
    [], [[]], [1, "a", b"b", None, [True]],
    {}, {0: 1}, {"k": [1, 2]}, {-1: 0, 0: 1, 23: 2, 24: 3, "a": 4, "aa": 5},
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=repr)
def test_every_supported_type_round_trips(value: Any) -> None:
    assert cbor.decode(cbor.encode(value)) == value


def test_tuples_bytearrays_and_memoryviews_encode_like_lists_and_bytes() -> None:
    assert cbor.encode((1, 2)) == cbor.encode([1, 2])
    assert cbor.encode(bytearray(b"ab")) == cbor.encode(b"ab")
    assert cbor.encode(memoryview(b"ab")) == cbor.encode(b"ab")


def test_encode_into_appends_to_the_given_buffer() -> None:
    out = bytearray(b"\xaa")
    cbor.encode_into(out, [1, "a"])
    assert bytes(out) == b"\xaa" + cbor.encode([1, "a"])


@pytest.mark.parametrize(
    "value",
    [1.5, 0.0, {1, 2}, 1 << 64, -(1 << 64) - 1, object(), {b"k": 1}, {1.0: 1}, {True: 1},
     {None: 1}, {(1,): 1}, [1, 2.5]],
    ids=repr,
)
def test_encoder_refuses_values_outside_the_subset_as_unsupported(value: Any) -> None:
    with pytest.raises(ProtocolError) as err:
        cbor.encode(value)
    assert err.value.reason == UNSUPPORTED


@pytest.mark.parametrize(
    ("encoding", "what"),
    [("a1400a", "byte-string key"), ("a1f400", "false as key"), ("a1f600", "null as key"),
     ("a18001", "array as key"), ("a1a001", "map as key")],
)
def test_decoder_refuses_map_keys_other_than_int_or_text(encoding: str, what: str) -> None:
    assert reason(bytes.fromhex(encoding)) == UNSUPPORTED, what


# --- agreement with cbor2 ------------------------------------------------------------------------

INTS = st.integers(min_value=-(1 << 64), max_value=(1 << 64) - 1)
SCALARS = INTS | st.binary(max_size=40) | st.text(max_size=30) | st.sampled_from(
    [False, True, None])


def nested(keys: st.SearchStrategy[Any], levels: int = cbor.MAX_DEPTH) -> st.SearchStrategy[Any]:
    """Values with at most ``levels`` levels of containers (the decoder's limit)."""
    strategy: st.SearchStrategy[Any] = SCALARS
    for _ in range(levels):
        strategy = SCALARS | st.lists(strategy, max_size=4) | st.dictionaries(
            keys, strategy, max_size=4)
    return strategy


MIXED_KEYS = INTS | st.text(max_size=8)
# cbor2's canonical=True orders map keys length-first (RFC 7049 §3.9); RFC 8949 §4.2.1 orders
# them bytewise. The two agree whenever all keys share a major type (the head encodes the
# length), so the direct comparison uses maps whose keys are all unsigned, all negative or all
# text.
HOMOGENEOUS_KEYS = st.sampled_from([
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.integers(min_value=-(1 << 64), max_value=-1),
    st.text(max_size=30),
]).flatmap(nested)


@settings(max_examples=400, deadline=None)
@given(HOMOGENEOUS_KEYS)
def test_encoding_matches_cbor2_canonical_encoding(value: Any) -> None:
    ours = cbor.encode(value)
    assert ours == cbor2.dumps(value, canonical=True)
    assert cbor.decode(ours) == value


def rfc8949_order(value: Any) -> Any:
    """``value`` with every map rebuilt in RFC 8949 §4.2.1 key order (bytewise, computed from
    cbor2's encoding of each key), so that cbor2's non-canonical mode, which keeps insertion
    order, writes the deterministic encoding."""
    if isinstance(value, list):
        return [rfc8949_order(v) for v in value]
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: cbor2.dumps(k, canonical=True))
        return {k: rfc8949_order(value[k]) for k in keys}
    return value


@settings(max_examples=400, deadline=None)
@given(nested(MIXED_KEYS))
def test_encoding_matches_cbor2_with_rfc8949_key_order_for_mixed_keys(value: Any) -> None:
    ours = cbor.encode(value)
    assert ours == cbor2.dumps(rfc8949_order(value))
    assert cbor2.loads(ours) == value
    assert cbor.decode(ours) == value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(MIXED_KEYS, nested(MIXED_KEYS, 2), min_size=2, max_size=6))
def test_decoder_refuses_maps_in_any_key_order_but_the_deterministic_one(
        value: dict[Any, Any]) -> None:
    backwards = {k: value[k] for k in sorted(value, key=cbor2.dumps, reverse=True)}
    assert reason(cbor2.dumps(backwards)) == NON_CANONICAL  # cbor2 keeps insertion order
    assert cbor.decode(cbor2.dumps(rfc8949_order(value))) == value


# --- strictness ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("encoding", "what"),
    [
        ("1817", "uint 23 in a 1-byte head"),
        ("190017", "uint 23 in a 2-byte head"),
        ("1900ff", "uint 255 in a 2-byte head"),
        ("1a0000ffff", "uint 65535 in a 4-byte head"),
        ("1b00000000ffffffff", "uint 2^32-1 in an 8-byte head"),
        ("3800", "nint -1 in a 1-byte head"),
        ("3a0000ffff", "nint in a 4-byte head"),
        ("5801aa", "1-byte bstr with a 1-byte length head"),
        ("790001" + "61", "1-byte tstr with a 2-byte length head"),
        ("9a0000000100", "1-item array with a 4-byte count"),
        ("bb00000000000000010102", "1-pair map with an 8-byte count"),
        ("a201020102", "duplicate map key"),
        ("a203040102", "keys out of order"),
        ("a2616201616101", "text keys out of order"),
        ("a2616101190001" + "02", "value head overlong inside a map"),
        ("5fff", "indefinite empty byte string"),
        ("7fff", "indefinite empty text string"),
        ("bfff", "indefinite empty map"),
    ],
    ids=lambda v: v if " " in str(v) else None,
)
def test_non_deterministic_encodings_are_refused_as_non_canonical(encoding: str,
                                                                  what: str) -> None:
    assert reason(bytes.fromhex(encoding)) == NON_CANONICAL, what


@pytest.mark.parametrize("major", range(8))
@pytest.mark.parametrize("info", [28, 29, 30])
def test_reserved_additional_information_is_refused(major: int, info: int) -> None:
    # RFC 8949 §3: additional information 28..30 is reserved -> not well-formed.
    assert reason(bytes([major << 5 | info]) + bytes(8)) == MALFORMED


@pytest.mark.parametrize("encoding", ["ff", "fc", "fd", "fe", "f800", "f81f"])
def test_not_well_formed_simple_encodings_are_malformed(encoding: str) -> None:
    assert reason(bytes.fromhex(encoding)) == MALFORMED


def test_trailing_bytes_after_the_item_are_malformed() -> None:
    assert reason(b"\x01\x00") == MALFORMED
    assert reason(cbor.encode({"a": 1}) + b"\xf6") == MALFORMED


@pytest.mark.parametrize(
    "encoding",
    ["", "18", "19ff", "1a00ff", "1b0000000100", "41", "5818", "62c3", "82", "8201", "a1",
     "a101", "a20102"],
)
def test_input_ending_inside_an_item_is_truncated(encoding: str) -> None:
    assert reason(bytes.fromhex(encoding)) == TRUNCATED


# --- resource limits -----------------------------------------------------------------------------

def nest(levels: int, kind: str = "array") -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value] if kind == "array" else {0: value}
    return value


@pytest.mark.parametrize("kind", ["array", "map"])
def test_nesting_up_to_the_depth_limit_decodes(kind: str) -> None:
    value = nest(cbor.MAX_DEPTH, kind)
    assert cbor.decode(cbor.encode(value)) == value


@pytest.mark.parametrize("kind", ["array", "map"])
def test_nesting_beyond_the_depth_limit_is_refused_as_unsupported(kind: str) -> None:
    head = b"\x81" if kind == "array" else b"\xa1\x00"
    assert reason(head * (cbor.MAX_DEPTH + 1) + b"\x00") == UNSUPPORTED
    with pytest.raises(ProtocolError) as err:
        cbor.encode(nest(cbor.MAX_DEPTH + 2, kind))
    assert err.value.reason == UNSUPPORTED


def test_hostile_deep_nesting_is_refused_without_recursing() -> None:
    # 100,000 nested one-item arrays would overflow any stack if followed: refused at level 6.
    assert reason(b"\x81" * 100_000 + b"\x00") == UNSUPPORTED
    assert reason(b"\x9f" * 100_000) == NON_CANONICAL


def test_encoder_and_decoder_share_the_depth_limit() -> None:
    # Whatever encode() emits, decode() reads back: five nested containers both ways,
    # six refused by both (the encoder once accepted six, which the decoder refused).
    five: Any = [[[[[]]]]]
    assert cbor.decode(cbor.encode(five)) == five
    with pytest.raises(ProtocolError) as err:
        cbor.encode([[[[[[]]]]]])
    assert err.value.reason == UNSUPPORTED
    assert reason(bytes.fromhex("818181818180")) == UNSUPPORTED


@pytest.mark.parametrize(
    "encoding",
    [
        "5bffffffffffffffff",  # byte string claiming 2^64-1 bytes
        "5b7fffffffffffffff00",
        "7b0000000100000000616263",  # text string claiming 4 GiB
        "5a0001000000",  # 64 KiB claimed, nothing present
        "9bffffffffffffffff00",  # array claiming 2^64-1 items
        "bbffffffffffffffff0000",  # map claiming 2^64-1 pairs
        "99ffff" + "00" * 100,  # 65535 items claimed, 100 present
        "8283" + "00" * 2,  # inner array short by one
    ],
)
def test_declared_length_beyond_the_input_is_truncated_without_allocating_it(
        encoding: str) -> None:
    tracemalloc.start()
    try:
        got = reason(bytes.fromhex(encoding))
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == TRUNCATED
    # The decoder never trusts a declared length: memory stays far below any claimed size.
    assert peak < 64 * 1024


# --- UTF-8 (RFC 3629), the same on both runtimes -------------------------------------------------

# Text payloads and whether RFC 3629 allows them. MicroPython's str(b, "utf-8") accepts the
# forbidden ones, so protocol.cbor checks itself; these must agree on both runtimes.
UTF8_CASES = [
    ("7f", True), ("c280", True), ("dfbf", True), ("e0a080", True), ("ed9fbf", True),
    ("ee8080", True), ("efbfbf", True), ("f0908080", True), ("f48fbfbf", True),
    ("f09f9982", True), ("c3a5c3b8", True),
    ("c080", False),  # overlong NUL
    ("c1bf", False),  # overlong 2-byte
    ("e08080", False), ("e09fbf", False),  # overlong 3-byte
    ("f0808080", False), ("f08fbfbf", False),  # overlong 4-byte
    ("eda080", False), ("edbfbf", False), ("eda0bdedb0bd", False),  # surrogates (CESU-8)
    ("f4908080", False), ("f7bfbfbf", False),  # beyond U+10FFFF
    ("f8888080 80", False), ("fc8480808080", False),  # 5- and 6-byte forms
    ("fe", False), ("ff", False),
    ("80", False), ("bf", False), ("61bf", False),  # lone continuation bytes
    ("c3", False), ("e6b0", False), ("f09f98", False), ("61e6", False),  # truncated sequences
    ("c361", False), ("e6b061", False), ("f09f9861", False),  # continuation missing
    ("e6c0b0", False),  # continuation out of range
]


def text_item(raw: bytes) -> bytes:
    """A CBOR text string item holding ``raw`` as it is (valid UTF-8 or not)."""
    head = bytearray(cbor.encode(len(raw)))  # an unsigned head of the right width ...
    head[0] |= 0x60  # ... turned into a text string head (major type 3)
    return bytes(head) + raw


@pytest.mark.parametrize(("raw_hex", "valid"), UTF8_CASES, ids=[c for c, _v in UTF8_CASES])
def test_text_is_accepted_exactly_when_it_is_valid_utf8(raw_hex: str, valid: bool) -> None:
    raw = bytes.fromhex(raw_hex.replace(" ", ""))
    assert reason(text_item(raw)) == (None if valid else MALFORMED)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=12) | st.text(max_size=6).map(lambda s: s.encode("utf-8")))
def test_text_validation_agrees_with_cpython_strict_utf8(raw: bytes) -> None:
    try:
        expected: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        expected = None
    if expected is None:
        assert reason(text_item(raw)) == MALFORMED
    else:
        assert cbor.decode(text_item(raw)) == expected


def utf8_corpus() -> list[bytes]:
    """The fixed cases plus seeded random short strings biased to multi-byte lead bytes."""
    rng = random.Random(20260705)
    corpus = [bytes.fromhex(c.replace(" ", "")) for c, _v in UTF8_CASES]
    alphabet = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF]
    for _ in range(3000):
        corpus.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6))))
    return corpus


# Verdict per input line: "v" valid and decoded as str() does, "m" refused as MALFORMED, else
# the reason or "?" for a wrong value. One byte each, so 3,000 cases fit the 110 KB heap.
MPY_UTF8_CHECK = r"""
from protocol import cbor
from protocol.errors import ProtocolError
verdicts = bytearray()
with open(%(path)r) as f:
    for line in f:
        raw = bytes.fromhex(line.strip())
        n = len(raw)
        item = (bytes([0x60 | n]) if n < 24 else bytes([0x78, n])) + raw
        try:
            verdicts.append(ord("v") if cbor.decode(item) == str(raw, "utf-8") else ord("?"))
        except ProtocolError as e:
            verdicts.append(ord("m") if e.reason == "malformed" else ord("!"))
print('"' + verdicts.decode() + '"')
"""


def cpython_verdict(raw: bytes) -> str:
    try:
        return "v" if cbor.decode(text_item(raw)) == raw.decode("utf-8") else "?"
    except ProtocolError as exc:
        return "m" if exc.reason == MALFORMED else "!"


@pytest.mark.micropython
def test_text_validation_is_identical_inside_micropython(
        run_micropython: mpy.RunMicroPython, tmp_path: Path) -> None:
    corpus = utf8_corpus()
    path = tmp_path / "utf8-corpus.txt"
    path.write_text("".join(raw.hex() + "\n" for raw in corpus))
    expected = "".join(cpython_verdict(raw) for raw in corpus)
    verdicts = micropython_result(run_micropython(MPY_UTF8_CHECK % {"path": str(path)}))
    mismatches = [(raw.hex(), want, got) for raw, want, got in zip(corpus, expected, verdicts,
                                                                   strict=True) if want != got]
    assert mismatches == []
    assert expected.count("v") > 50
    assert expected.count("m") > 50
    assert set(expected) == {"v", "m"}
