"""The checked-in test vectors hold on CPython and, byte for byte, inside MicroPython."""

import io
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest

from trygg.protocol import cbor, cose, frame
from trygg.protocol.errors import ProtocolError
from trygg.tools.protocol import vectors

VECTORS = vectors.vectors_path()
DIRECTIONS = {"up": cose.UP, "down": cose.DOWN}


def load() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


def test_checked_in_vectors_match_the_generator() -> None:
    # A diff here means the wire format changed: regenerate deliberately
    # (python -m trygg.tools.protocol.vectors) and review the change.
    assert VECTORS.read_text(encoding="utf-8") == vectors.render()


def test_vectors_cover_every_message_kind_and_rejection_reason() -> None:
    v = load()
    kinds = {vec["message"]["type"] for vec in v["valid"]}
    assert kinds == {"hello", "event", "heartbeat", "command_result", "ack", "command"}
    reasons = {vec["reason"] for vec in v["invalid"]}
    assert {"truncated", "oversized", "non_canonical", "wrong_tag", "unknown_kid", "bad_mac",
            "schema", "malformed", "unsupported", "bad_alg", "bad_header",
            "wrong_direction"} <= reasons


@pytest.mark.parametrize("vec", load()["valid"], ids=lambda v: v["name"])
def test_valid_vector_seals_and_opens_on_cpython(vec: dict) -> None:
    v = load()
    key = cose.MacKey(bytes.fromhex(v["key"]))
    kid = bytes.fromhex(v["kid"])
    assert frame.seal(vec["message"], key, kid, vec["seq"], vec["alg"]).hex() == vec["frame"]
    envelope, msg = frame.open_message(bytes.fromhex(vec["frame"]), DIRECTIONS[vec["direction"]],
                                       {kid: key}.get)
    assert (envelope.seq, envelope.alg, msg) == (vec["seq"], vec["alg"], vec["message"])


@pytest.mark.parametrize("vec", load()["invalid"], ids=lambda v: v["name"])
def test_invalid_vector_is_rejected_with_its_reason_on_cpython(vec: dict) -> None:
    v = load()
    keys = {bytes.fromhex(v["kid"]): cose.MacKey(bytes.fromhex(v["key"]))}
    with pytest.raises(ProtocolError) as err:
        frame.open_message(bytes.fromhex(vec["frame"]), DIRECTIONS[vec["direction"]], keys.get)
    assert err.value.reason == vec["reason"], err.value.detail


def read_envelope(data: bytes) -> tuple[bytes, Any, bytes, bytes] | None:
    """``(protected, unprotected, payload, tag)`` of the first CBOR item of ``data`` if it is a
    COSE_Mac0-shaped array of four (tagged or not, any tag), else None. Read with cbor2, not
    with the code under test."""
    try:
        item = cbor2.CBORDecoder(io.BytesIO(data)).decode()
    except (cbor2.CBORDecodeError, EOFError):
        return None
    if isinstance(item, cbor2.CBORTag):
        item = item.value
    if (not isinstance(item, list) or len(item) != 4
            or not all(isinstance(item[i], bytes) for i in (0, 2, 3))):
        return None
    return item[0], item[1], item[2], item[3]


def right_tag(protected: bytes, payload: bytes, direction: str, length: int) -> bytes:
    key = cose.MacKey(bytes.fromhex(load()["key"]))
    return key.mac(cose.mac_structure(protected, DIRECTIONS[direction], payload))[:length]


# Defects in the envelope itself, before any MAC can be read.
NO_ENVELOPE = {"empty", "truncated_by_one", "truncated_after_head", "garbage", "array_of_3"}


def test_the_vectors_without_an_envelope_are_the_known_ones() -> None:
    unreadable = {vec["name"] for vec in load()["invalid"]
                  if read_envelope(bytes.fromhex(vec["frame"])) is None}
    assert unreadable == NO_ENVELOPE


@pytest.mark.parametrize("vec", [v for v in load()["invalid"] if v["name"] not in NO_ENVELOPE],
                         ids=lambda v: v["name"])
def test_invalid_vector_has_exactly_one_defect_and_a_right_mac_unless_that_is_it(
        vec: dict) -> None:
    # The decoder stops at the first fault, so a second one (say a MAC left stale by an edit
    # of the protected header) would go unseen by test_invalid_vector_is_rejected_with_its_
    # reason_on_cpython: a receiver that checks in another order would give another reason.
    envelope = read_envelope(bytes.fromhex(vec["frame"]))
    assert envelope is not None
    protected, unprotected, payload, tag = envelope
    right = right_tag(protected, payload, vec["direction"], len(tag))
    if vec["reason"] != "bad_mac":
        assert tag == right, "the MAC is stale: a second defect"
        return
    # The MAC is the defect: with the right one the frame opens.
    assert tag != right
    kid = unprotected[4]
    repaired = b"\xd1" + cbor.encode([protected, {4: kid}, payload, right])
    v = load()
    keys = {bytes.fromhex(v["kid"]): cose.MacKey(bytes.fromhex(v["key"]))}
    frame.open_message(repaired, DIRECTIONS[vec["direction"]], keys.get)


MPY_VECTOR_CHECK = r"""
import json
from protocol import frame, cose
from protocol.errors import ProtocolError
v = json.load(open(%(path)r))
key = cose.MacKey(bytes.fromhex(v["key"]))
kid = bytes.fromhex(v["kid"])
keys = {kid: key}
dirs = {"up": cose.UP, "down": cose.DOWN}
bad = []
for vec in v["valid"]:
    f = frame.seal(vec["message"], key, kid, vec["seq"], vec["alg"])
    if f.hex() != vec["frame"]:
        bad.append([vec["name"], "sealed differently", f.hex()])
        continue
    env, msg = frame.open_message(bytes.fromhex(vec["frame"]), dirs[vec["direction"]], keys.get)
    if msg != vec["message"] or env.seq != vec["seq"]:
        bad.append([vec["name"], "decoded differently", repr(msg)])
for vec in v["invalid"]:
    try:
        frame.open_message(bytes.fromhex(vec["frame"]), dirs[vec["direction"]], keys.get)
        bad.append([vec["name"], "accepted"])
    except ProtocolError as e:
        if e.reason != vec["reason"]:
            bad.append([vec["name"], e.reason, e.detail])
print(json.dumps({"checked": len(v["valid"]) + len(v["invalid"]), "bad": bad}))
"""


def test_all_vectors_hold_inside_micropython(run_micropython) -> None:
    proc = run_micropython(MPY_VECTOR_CHECK % {"path": str(Path(VECTORS))})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bad"] == []
    assert result["checked"] == len(load()["valid"]) + len(load()["invalid"])
