"""The checked-in test vectors hold on CPython and, byte for byte, inside MicroPython."""

import json
from pathlib import Path

import pytest

from trygg.protocol import cose, frame
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
