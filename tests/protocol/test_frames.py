"""Whole frames: their size limits, and every way a hostile or broken frame is refused.

Each refusal is a ProtocolError with the reason a hub counts per device (errors.REASONS);
anything else escaping would crash the hub's MQTT handler.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.protocol import (
    ALGS,
    KEYS,
    KID,
    MAC_KEY,
    rejection,
    seal_raw,
    valid_frames,
    valid_messages,
)
from trygg.protocol import cbor, cose, frame, messages
from trygg.protocol.errors import (
    BAD_HEADER,
    BAD_MAC,
    MALFORMED,
    NON_CANONICAL,
    OVERSIZED,
    REPLAYED,
    SCHEMA,
    TRUNCATED,
    UNKNOWN_KID,
    WRONG_DIRECTION,
    WRONG_TAG,
    ProtocolError,
)
from trygg.protocol.replay import ReplayWindow
from trygg.tools.protocol import samples as protocol_samples

UP, DOWN = cose.UP, cose.DOWN
VALID = valid_frames()
EVENT = {"type": "event", "uptime": 5, "event": "motion"}
GOOD = frame.seal(EVENT, MAC_KEY, KID, 7)


# --- size ----------------------------------------------------------------------------------------

UP_LARGEST = [(n, m) for n, m in protocol_samples.largest().items()
              if messages.direction_of(m["type"]) == UP]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(("name", "msg"), UP_LARGEST, ids=[n for n, _m in UP_LARGEST])
def test_every_device_to_hub_frame_at_its_largest_fits_espnow(name: str, msg: dict[str, Any],
                                                             alg: int) -> None:
    data = frame.seal(msg, MAC_KEY, KID, cose.MAX_SEQ, alg)
    assert len(data) <= cose.ESPNOW_MAX_PAYLOAD == 250


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("name", sorted(protocol_samples.largest()))
def test_every_frame_at_its_largest_opens(name: str, alg: int) -> None:
    msg = protocol_samples.largest()[name]
    data = frame.seal(msg, MAC_KEY, KID, cose.MAX_SEQ, alg)
    assert len(data) <= cose.MAX_FRAME_SIZE
    _envelope, back = frame.open_message(data, messages.direction_of(msg["type"]), KEYS.get)
    assert back == msg


def largest_frame_size(msg_type: str, alg: int) -> int:
    sizes = [len(frame.seal(m, MAC_KEY, KID, cose.MAX_SEQ, alg))
             for m in protocol_samples.largest().values() if m["type"] == msg_type]
    return max(sizes)


@settings(max_examples=800, deadline=None)
@given(valid_messages(UP), st.integers(0, cose.MAX_SEQ), st.sampled_from(ALGS))
def test_no_device_to_hub_message_is_larger_than_the_largest_sample(msg: dict[str, Any],
                                                                    seq: int, alg: int) -> None:
    # protocol_samples.largest() must really be the worst case, or the size test proves nothing.
    size = len(frame.seal(msg, MAC_KEY, KID, seq, alg))
    assert size <= largest_frame_size(msg["type"], alg) <= cose.ESPNOW_MAX_PAYLOAD


@pytest.mark.parametrize("seq", [1 << 24, 0xFFFF_FFFF])
def test_typical_motion_event_with_a_4_byte_sequence_number_is_at_most_48_bytes(
        seq: int) -> None:
    assert len(cose.encode_partial_iv(seq)) == 4
    data = frame.seal(protocol_samples.typical()["motion_event"], MAC_KEY, KID, seq)
    assert len(data) <= 48


def test_a_frame_of_exactly_the_maximum_size_is_parsed() -> None:
    payload = bytes(cose.MAX_FRAME_SIZE - len(seal_raw(b"")) - 1)  # 1 more byte of bstr head
    data = seal_raw(payload)
    assert len(data) == cose.MAX_FRAME_SIZE
    assert cose.open_frame(data, UP, KEYS.get).payload == payload


@pytest.mark.parametrize("extra", [1, 2, 44, 1000, 60_000])
def test_frames_longer_than_256_bytes_are_refused_as_oversized(extra: int) -> None:
    payload = bytes(cose.MAX_FRAME_SIZE - len(seal_raw(b"")) - 1 + extra)
    data = seal_raw(payload)  # correctly MACed, only too long
    assert len(data) > cose.MAX_FRAME_SIZE
    assert rejection(data) == OVERSIZED


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=cose.MAX_FRAME_SIZE + 1, max_size=2000))
def test_any_input_over_256_bytes_is_oversized_whatever_it_holds(data: bytes) -> None:
    assert rejection(data) == OVERSIZED
    assert rejection(GOOD + data) == OVERSIZED


# --- truncation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "data", "direction"), VALID, ids=[v[0] for v in VALID])
def test_every_prefix_of_a_valid_frame_is_truncated(name: str, data: bytes,
                                                    direction: int) -> None:
    reasons = {n: rejection(data[:n], direction) for n in range(len(data))}
    assert {n: r for n, r in reasons.items() if r != TRUNCATED} == {}
    assert rejection(data, direction) is None


# --- non-canonical encodings ----------------------------------------------------------------------

def piece(data: bytes, old: str, new: str) -> bytes:
    """``data`` with the first occurrence of hex ``old`` replaced by hex ``new``."""
    assert bytes.fromhex(old) in data, old
    return data.replace(bytes.fromhex(old), bytes.fromhex(new), 1)


# GOOD = d1 84 | 46 a2 01 04 06 41 07 | a1 04 46 <kid> | 47 a3 00 02 01 05 03 01 | 48 <tag>
KID_HEX = KID.hex()
FRAME_STRUCTURE_NON_CANONICAL = [
    ("protected length in a 1-byte head", "46a201", "5806a201"),
    ("protected length in a 2-byte head", "46a201", "590006a201"),
    ("kid length in a 1-byte head", "a10446", "a1045806"),
    ("kid length in a 4-byte head", "a10446", "a1045a00000006"),
    ("unprotected map count in a 1-byte head", "a10446", "b8010446"),
    ("unprotected map of indefinite length", "a10446" + KID_HEX, "bf0446" + KID_HEX + "ff"),
    ("kid as an indefinite byte string", "a10446" + KID_HEX, "a1045f46" + KID_HEX + "ff"),
    ("payload length in a 1-byte head", "47a3", "5807a3"),
    ("payload length in an 8-byte head", "47a3", "5b0000000000000007a3"),
    ("payload as an indefinite byte string", "47a300020105030148",
     "5f47a3000201050301ff48"),
    ("tag length in a 1-byte head", "030148", "03015808"),
]


@pytest.mark.parametrize(("what", "old", "new"), FRAME_STRUCTURE_NON_CANONICAL,
                         ids=[c[0] for c in FRAME_STRUCTURE_NON_CANONICAL])
def test_non_canonical_frame_structure_is_refused_as_non_canonical(what: str, old: str,
                                                                  new: str) -> None:
    assert rejection(piece(GOOD, old, new)) == NON_CANONICAL


@pytest.mark.parametrize(
    ("what", "old", "new", "expected"),
    [
        # The frame head is matched byte for byte (tag 17 = d1, array of 4 = 84): any other
        # encoding of it is "not the COSE_Mac0 shape" before CBOR decoding starts.
        ("array of 4 in a 1-byte head", "d184", "d19804", MALFORMED),
        ("array of indefinite length", "d184", "d19f", MALFORMED),
        ("tag 17 in a 1-byte head", "d184", "d81184", WRONG_TAG),
        ("tag 17 in a 2-byte head", "d184", "d9001184", WRONG_TAG),
    ],
)
def test_non_canonical_frame_head_is_refused(what: str, old: str, new: str,
                                             expected: str) -> None:
    assert rejection(piece(GOOD, old, new)) == expected


HELLO = {"type": "hello", "uptime": 1, "firmware": "0.1.0", "role": "motion", "board": "esp32",
         "reset": "power_on"}
EVENT_VALUE = {"type": "event", "uptime": 5, "event": "motion", "value": -1}
ACK = {"type": "ack", "ranges": [[0, 5]]}
# (what, message, its canonical payload hex, a part of it, the non-canonical replacement)
PAYLOAD_NON_CANONICAL: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("uptime in a 1-byte head", EVENT, "a3000201050301", "0105", "011805"),
    ("uptime in a 2-byte head", EVENT, "a3000201050301", "0105", "01190005"),
    ("uptime in a 4-byte head", EVENT, "a3000201050301", "0105", "011a00000005"),
    ("uptime in an 8-byte head", EVENT, "a3000201050301", "0105", "011b0000000000000005"),
    ("uptime 300 in a 4-byte head", EVENT, "a3000201050301", "0105", "011a0000012c"),
    ("uptime 65536 in an 8-byte head", EVENT, "a3000201050301", "0105",
     "011b0000000000010000"),
    ("type code in a 1-byte head", EVENT, "a3000201050301", "0002", "001802"),
    ("key in a 1-byte head", EVENT, "a3000201050301", "0301", "180301"),
    ("map count in a 1-byte head", EVENT, "a3000201050301", "a3", "b803"),
    ("map count in a 2-byte head", EVENT, "a3000201050301", "a3", "b90003"),
    ("keys out of order", EVENT, "a3000201050301", "00020105", "01050002"),
    ("keys out of order at the end", EVENT, "a3000201050301", "01050301", "03010105"),
    ("duplicate key", EVENT, "a3000201050301", "0301", "0105"),
    ("indefinite-length map", EVENT, "a3000201050301", "a3000201050301", "bf000201050301ff"),
    ("negative value in a 1-byte head", EVENT_VALUE, "a400020105030104 20", "0420", "043800"),
    ("negative value in a 4-byte head", EVENT_VALUE, "a400020105030104 20", "0420",
     "043a00000000"),
    ("text length in a 1-byte head", HELLO, "", "65302e312e30", "7805302e312e30"),
    ("indefinite text string", HELLO, "", "65302e312e30", "7f65302e312e30ff"),
    ("text in two chunks", HELLO, "", "65302e312e30", "7f6130642e312e30ff"),
    ("array count in a 1-byte head", ACK, "a2001001818200 05", "8182", "980182"),
    ("indefinite array", ACK, "a2001001818200 05", "81820005", "9f820005ff"),
    ("indefinite inner array", ACK, "a2001001818200 05", "820005", "9f0005ff"),
]


@pytest.mark.parametrize(("what", "msg", "canonical", "old", "new"), PAYLOAD_NON_CANONICAL,
                         ids=[c[0] for c in PAYLOAD_NON_CANONICAL])
def test_non_canonical_payload_is_refused_as_non_canonical(
        what: str, msg: dict[str, Any], canonical: str, old: str, new: str) -> None:
    payload = messages.encode(msg)
    if canonical:
        assert payload.hex() == canonical.replace(" ", "")
    direction = messages.direction_of(msg["type"])
    assert rejection(seal_raw(payload, direction), direction) is None  # the control
    bad = piece(payload, old, new.replace(" ", ""))
    assert rejection(seal_raw(bad, direction), direction) == NON_CANONICAL


# --- tags, kids, MACs, replays, schema -----------------------------------------------------------

@pytest.mark.parametrize(
    "tag_head",
    [f"{0xC0 + t:02x}" for t in range(24) if t != 17]
    + ["d818", "d860", "d861", "d862", "d83d", "d9d9f7", "da00000011", "db0000000000000011"],
)
def test_any_tag_but_cose_mac0_is_refused_as_wrong_tag(tag_head: str) -> None:
    assert rejection(bytes.fromhex(tag_head) + GOOD[1:]) == WRONG_TAG
    assert rejection(bytes.fromhex(tag_head) + GOOD) == WRONG_TAG  # COSE_Mac0 wrapped in a tag


@pytest.mark.parametrize(
    "kid",
    [b"\x00", bytes.fromhex("a1b2c3d4e5f7"), bytes.fromhex("a1b2c3d4e5"),
     KID + b"\x00", bytes(16)],
    ids=lambda k: k.hex(),
)
def test_frame_from_an_unknown_kid_is_refused_as_unknown_kid(kid: bytes) -> None:
    assert rejection(frame.seal(EVENT, MAC_KEY, kid, 7)) == UNKNOWN_KID


@pytest.mark.parametrize("kid_hex", ["40", "51" + "00" * 17], ids=["empty", "17 bytes"])
def test_kid_outside_1_to_16_bytes_is_refused_as_bad_header(kid_hex: str) -> None:
    data = piece(GOOD, "a10446" + KID_HEX, "a104" + kid_hex)
    assert rejection(data) == BAD_HEADER


def test_every_single_bit_flip_of_the_mac_tag_or_mac_input_is_refused() -> None:
    tag_start = len(GOOD) - 8
    for i in range(len(GOOD) * 8):
        data = bytearray(GOOD)
        data[i // 8] ^= 1 << (i % 8)
        got = rejection(bytes(data))
        assert got is not None, f"bit {i} flipped, frame {bytes(data).hex()} accepted"
        if i // 8 >= tag_start:
            assert got == BAD_MAC


def test_frame_replayed_after_being_accepted_is_refused_as_replayed() -> None:
    window = ReplayWindow()
    envelope, _msg = frame.open_message(GOOD, UP, KEYS.get, lambda _kid: window)
    window.accept(envelope.seq)
    assert rejection(GOOD, UP, window) == REPLAYED


SCHEMA_VIOLATIONS: list[tuple[str, dict[Any, Any] | list[Any]]] = [
    ("not a map", [2, 5, 1]),
    ("no type", {1: 5, 3: 1}),
    ("unknown type code", {0: 99, 1: 5}),
    ("type as text", {0: "event", 1: 5, 3: 1}),
    ("type as bool", {0: True, 1: 1, 3: "1", 4: 1, 5: "b", 6: 1}),  # true == 1 in Python
    ("missing required field", {0: 2, 1: 5}),
    ("unknown field", {0: 2, 1: 5, 3: 1, 9: 0}),
    ("text key", {0: 2, 1: 5, 3: 1, "x": 0}),
    ("uptime beyond uint32", {0: 2, 1: 1 << 32, 3: 1}),
    ("uptime negative", {0: 2, 1: -1, 3: 1}),
    ("uptime as text", {0: 2, 1: "5", 3: 1}),
    ("uptime as bool", {0: 2, 1: True, 3: 1}),
    ("event code 0", {0: 2, 1: 5, 3: 0}),
    ("event code past the table", {0: 2, 1: 5, 3: len(messages.EVENTS) + 1}),
    ("event value beyond int32", {0: 2, 1: 5, 3: 1, 4: 1 << 31}),
    ("null field", {0: 2, 1: 5, 3: 1, 2: None}),
    ("heartbeat rssi positive", {0: 3, 1: 5, 3: 3000, 4: 1, 5: 1, 6: 0, 7: 0}),
    ("hello firmware empty", {0: 1, 1: 1, 3: "", 4: 1, 5: "b", 6: 1}),
    ("hello board 25 bytes", {0: 1, 1: 1, 3: "1", 4: 1, 5: "b" * 25, 6: 1}),
    ("hello firmware as bytes", {0: 1, 1: 1, 3: b"1", 4: 1, 5: "b", 6: 1}),
    ("command_result detail 33 bytes", {0: 4, 1: 1, 3: 1, 4: 1, 5: "d" * 33}),
]


@pytest.mark.parametrize(("what", "wire"), SCHEMA_VIOLATIONS, ids=[c[0] for c in SCHEMA_VIOLATIONS])
def test_authenticated_but_schema_violating_payload_is_refused_as_schema(
        what: str, wire: Any) -> None:
    assert rejection(seal_raw(cbor.encode(wire))) == SCHEMA


DOWN_SCHEMA_VIOLATIONS: list[tuple[str, dict[Any, Any]]] = [
    ("ack without ranges", {0: 16}),
    ("ack with no range", {0: 16, 1: []}),
    ("ack with 9 ranges", {0: 16, 1: [[i, i] for i in range(9)]}),
    ("ack range backwards", {0: 16, 1: [[5, 4]]}),
    ("ack range beyond 2^40", {0: 16, 1: [[0, 1 << 40]]}),
    ("ack range of 3", {0: 16, 1: [[0, 1, 2]]}),
    ("command without kind", {0: 17, 1: 1}),
    ("set_config without config", {0: 17, 1: 1, 2: 1}),
    ("set_config with an unknown setting", {0: 17, 1: 1, 2: 1, 3: {99: 1}}),
    ("set_config with a text setting key", {0: 17, 1: 1, 2: 1, 3: {"room": "x"}}),
    ("set_config heartbeat below 10 s", {0: 17, 1: 1, 2: 1, 3: {1: 9}}),
    ("set_config empty", {0: 17, 1: 1, 2: 1, 3: {}}),
    ("reboot with a config", {0: 17, 1: 1, 2: 5, 3: {1: 60}}),
    ("set_time without offset", {0: 17, 1: 1, 2: 2, 4: 1}),
    ("set_time offset beyond 14 h", {0: 17, 1: 1, 2: 2, 4: 1, 5: 841}),
    ("doses out of order", {0: 17, 1: 1, 2: 3, 6: [[600, 1], [500, 2]]}),
    ("dose at minute 1440", {0: 17, 1: 1, 2: 3, 6: [[1440, 1]]}),
    ("identify for 0 s", {0: 17, 1: 1, 2: 4, 7: 0}),
    ("calibrate with reference 3", {0: 17, 1: 1, 2: 6, 8: 3}),
]


@pytest.mark.parametrize(("what", "wire"), DOWN_SCHEMA_VIOLATIONS,
                         ids=[c[0] for c in DOWN_SCHEMA_VIOLATIONS])
def test_schema_violating_hub_to_device_payload_is_refused_as_schema(
        what: str, wire: dict[Any, Any]) -> None:
    assert rejection(seal_raw(cbor.encode(wire), DOWN), DOWN) == SCHEMA


@pytest.mark.parametrize(("name", "msg"), protocol_samples.typical().items())
def test_message_of_the_other_direction_is_refused_as_wrong_direction(
        name: str, msg: dict[str, Any]) -> None:
    direction = messages.direction_of(msg["type"])
    other = DOWN if direction == UP else UP
    # MACed for the direction it arrives in, so only the type gives it away.
    assert rejection(seal_raw(messages.encode(msg), other), other) == WRONG_DIRECTION


# --- garbage -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("garbage", "expected"),
    [(b"", TRUNCATED), (b"\x00", MALFORMED), (b"\xd1", TRUNCATED), (b"\xd1\x84", TRUNCATED),
     (b"hello world", MALFORMED), (b"\xff" * 256, MALFORMED), (bytes(256), MALFORMED),
     (b"{\"type\": \"event\"}", MALFORMED), (cbor.encode({"type": "event"}), MALFORMED),
     (b"\xd1\x84\x40\xa0\x40\x40", BAD_HEADER)],
    ids=repr,
)
def test_garbage_is_refused_with_a_protocol_error(garbage: bytes, expected: str) -> None:
    assert rejection(garbage) == expected


def test_random_garbage_only_ever_raises_protocol_error() -> None:
    rng = random.Random(4711)
    reasons = set()
    for _ in range(3000):
        n = rng.randint(0, 300)
        data = bytes(rng.getrandbits(8) for _ in range(n))
        for candidate in (data, b"\xd1\x84" + data):
            got = rejection(candidate)
            assert got is not None
            reasons.add(got)
    assert {TRUNCATED, OVERSIZED, MALFORMED} <= reasons


def test_protocol_error_names_reason_and_detail_for_logs() -> None:
    with pytest.raises(ProtocolError) as err:
        frame.open_message(GOOD[:-1], UP, KEYS.get)
    assert err.value.reason == TRUNCATED
    assert str(err.value).startswith("truncated: ")
    assert err.value.detail
