"""Generate ``protocol/vectors/vectors.json``: the protocol's test vectors.

Each valid vector is a message, the key, kid, sequence number and algorithm,
and the exact frame in hex; each invalid vector is a frame and the reason it
must be rejected with. Both runtimes check them (tests/protocol/test_vectors.py):
CPython with ``trygg.protocol``, MicroPython with the same files copied as
``protocol``. Regenerate after a deliberate wire change with

    .venv/bin/python -m trygg.tools.protocol.vectors

and review the diff: a changed frame is a protocol change.
"""

import json
from pathlib import Path
from typing import Any

from trygg.protocol import cbor, cose, errors, messages
from trygg.tools.device.tree import package_source
from trygg.tools.protocol import samples as protocol_samples

KEY = bytes.fromhex("5e1f" * 16)
OTHER_KEY = bytes.fromhex("77" * 32)
KID = bytes.fromhex("a1b2c3d4e5f6")
UNKNOWN_KID = bytes.fromhex("0000000000ff")


def _seal_raw(payload: bytes, direction: int, seq: int = 7, kid: bytes = KID,
              key: bytes = KEY, alg: int = cose.ALG_HMAC_256_64) -> bytes:
    return cose.seal(payload, cose.MacKey(key), kid, seq, direction, alg)


def _seal_with_protected(protected: bytes, payload: bytes, direction: int) -> bytes:
    """A frame whose protected header is given as bytes (even ones cose.py would refuse), with
    the tag that is right for them: the header is then the vector's only defect."""
    tag = cose.MacKey(KEY).mac(cose.mac_structure(protected, direction, payload))
    return b"\xd1" + cbor.encode([protected, {cose.HEADER_KID: KID}, payload,
                                   tag[: cose.TAG_LENGTHS[cose.ALG_HMAC_256_64]]])


def valid_vectors() -> list[dict[str, Any]]:
    out = []
    seqs = (0, 1, 255, 256, protocol_samples.TYPICAL_SEQ, protocol_samples.MAX_SEQ)
    samples = list(protocol_samples.typical().items()) + list(protocol_samples.largest().items())
    for i, (name, msg) in enumerate(samples):
        seq = seqs[i % len(seqs)]
        for alg in (cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256):
            direction = messages.direction_of(msg["type"])
            frame = cose.seal(messages.encode(msg), cose.MacKey(KEY), KID, seq, direction, alg)
            out.append({"name": f"{name}/alg{alg}", "message": msg, "seq": seq, "alg": alg,
                        "direction": "up" if direction == cose.UP else "down",
                        "frame": frame.hex()})
    return out


def invalid_vectors() -> list[dict[str, Any]]:
    up = cose.UP
    event = messages.encode({"type": "event", "uptime": 5, "event": "motion"})
    good = _seal_raw(event, up)
    cases: list[tuple[str, bytes, str]] = [
        ("empty", b"", errors.TRUNCATED),
        ("truncated_by_one", good[:-1], errors.TRUNCATED),
        ("truncated_after_head", good[:2], errors.TRUNCATED),
        ("oversized", good + bytes(257 - len(good)), errors.OVERSIZED),
        ("trailing_byte", good + b"\x00", errors.MALFORMED),
        ("wrong_tag_18", b"\xd2" + good[1:], errors.WRONG_TAG),
        ("untagged_array", good[1:], errors.MALFORMED),
        ("garbage", bytes.fromhex("ffffffffffffffff"), errors.MALFORMED),
        ("array_of_3", b"\xd1\x83" + good[2:], errors.MALFORMED),
        ("bad_mac", good[:-1] + bytes([good[-1] ^ 1]), errors.BAD_MAC),
        ("other_key", _seal_raw(event, up, key=OTHER_KEY), errors.BAD_MAC),
        ("unknown_kid", _seal_raw(event, up, kid=UNKNOWN_KID), errors.UNKNOWN_KID),
        ("reflected_direction", _seal_raw(event, cose.DOWN), errors.BAD_MAC),
        # {1: 6 (HMAC 384/384), 6: h'07'}; 8-byte HMAC-SHA-256 tag, right for these bytes
        ("alg_hmac_256_384",
         _seal_with_protected(bytes.fromhex("a20106064107"), event, up), errors.BAD_ALG),
        # {1: 4, 6: h'0007'}: sequence number 7 with a leading zero byte (RFC 8613 §6.1)
        ("partial_iv_leading_zero",
         _seal_with_protected(bytes.fromhex("a2010406420007"), event, up), errors.BAD_HEADER),
        ("payload_overlong_int", _seal_raw(b"\xa3\x00\x02\x01\x18\x05\x03\x01", up),
         errors.NON_CANONICAL),
        ("payload_unsorted_keys", _seal_raw(b"\xa3\x00\x02\x03\x01\x01\x05", up),
         errors.NON_CANONICAL),
        ("payload_duplicate_key", _seal_raw(b"\xa3\x00\x02\x01\x05\x01\x05", up),
         errors.NON_CANONICAL),
        ("payload_indefinite_map", _seal_raw(b"\xbf\x00\x02\x01\x05\x03\x01\xff", up),
         errors.NON_CANONICAL),
        ("payload_float", _seal_raw(b"\xa3\x00\x02\x01\xf9\x3c\x00\x03\x01", up),
         errors.UNSUPPORTED),
        ("payload_tagged", _seal_raw(b"\xa3\x00\x02\x01\xc1\x05\x03\x01", up),
         errors.UNSUPPORTED),
        # command_result whose detail is the overlong (forbidden) UTF-8 form of NUL
        ("payload_bad_utf8", _seal_raw(bytes.fromhex("a500040101030104010562c080"), up),
         errors.MALFORMED),
        ("payload_missing_field", _seal_raw(cbor.encode({0: 2, 1: 5}), up), errors.SCHEMA),
        ("payload_unknown_event", _seal_raw(cbor.encode({0: 2, 1: 5, 3: 99}), up),
         errors.SCHEMA),
        ("payload_unknown_key", _seal_raw(cbor.encode({0: 2, 1: 5, 3: 1, 20: 0}), up),
         errors.SCHEMA),
        ("payload_not_a_map", _seal_raw(cbor.encode([2, 5, 1]), up), errors.SCHEMA),
        ("command_sent_upstream", _seal_raw(messages.encode(
            {"type": "command", "command_id": 1, "command": "reboot"}), up),
         errors.WRONG_DIRECTION),
        # {1: 4, 4: kid} unprotected: alg must not travel unauthenticated
        ("unprotected_extra_header", good.replace(b"\xa1\x04\x46", b"\xa2\x01\x04\x04\x46", 1),
         errors.BAD_HEADER),
    ]
    return [{"name": n, "frame": f.hex(), "direction": "up", "reason": r} for n, f, r in cases]


def build() -> dict[str, Any]:
    return {
        "description": "Trygg protocol v1 test vectors; see tools/protocol/vectors.py",
        "key": KEY.hex(),
        "kid": KID.hex(),
        "valid": valid_vectors(),
        "invalid": invalid_vectors(),
    }


def vectors_path() -> Path:
    return package_source("protocol") / "vectors" / "vectors.json"


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    path = vectors_path()
    path.parent.mkdir(exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
