"""``trygg frame decode|encode``: look inside captured frames, build test frames.

Technicians paste a frame captured from the broker or a serial log; developers
build frames for tests and hardware-in-the-loop rigs. Keys are given on the
command line only as hex and are never printed back.
"""

import argparse
import binascii
import json
import sys
from typing import Any

from trygg.protocol import cose, messages
from trygg.protocol.errors import BAD_MAC, WRONG_DIRECTION, ProtocolError

_DIRECTIONS = {"up": cose.UP, "down": cose.DOWN}


def register(sub: Any) -> None:
    p = sub.add_parser("frame", help="decode or encode protocol frames (hex)")
    fsub = p.add_subparsers(dest="frame_command", metavar="ACTION", required=True)

    d = fsub.add_parser("decode", help="show a captured frame as JSON and say whether it verifies")
    d.add_argument("hex", help="the frame as hex (spaces and colons allowed), or - for stdin")
    d.add_argument("--key", help="the device key as 64 hex digits; without it nothing is verified")
    d.add_argument("--direction", choices=("up", "down", "auto"), default="auto",
                   help="up: device->hub, down: hub->device, auto: try both (default)")
    d.set_defaults(func=_decode)

    e = fsub.add_parser("encode", help="build a signed frame from a JSON message")
    e.add_argument("json", help='the message, e.g. \'{"type":"event","uptime":1,"event":"motion"}\''
                   ", or - for stdin")
    e.add_argument("--key", required=True, help="the device key as 64 hex digits")
    e.add_argument("--kid", required=True, help="the device id as hex (Trygg devices: 12 digits)")
    e.add_argument("--seq", required=True, type=int, help="sender sequence number")
    e.add_argument("--alg", type=int, choices=(4, 5), default=4,
                   help="4: HMAC 256/64 (default), 5: HMAC 256/256")
    e.set_defaults(func=_encode)


def _read_arg(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def parse_hex(text: str, what: str) -> bytes:
    """Hex with optional spaces/colons/0x -> bytes; ValueError naming ``what``."""
    cleaned = text.strip().replace(" ", "").replace(":", "").replace("\n", "")
    if cleaned.startswith(("0x", "0X")):
        cleaned = cleaned[2:]
    try:
        return binascii.unhexlify(cleaned)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: not valid hex ({len(cleaned)} characters)") from None


def _key(text: str) -> cose.MacKey:
    raw = parse_hex(text, "--key")
    if len(raw) != cose.KEY_SIZE:
        raise ValueError(f"--key: {len(raw)} bytes, a device key is {cose.KEY_SIZE} bytes "
                         f"({2 * cose.KEY_SIZE} hex digits)")
    return cose.MacKey(raw)


def _usage_error(msg: str) -> int:
    print(f"trygg frame: {msg}", file=sys.stderr)
    return 2


def decode_report(data: bytes, key: cose.MacKey | None, direction: str) -> dict[str, Any]:
    """Everything a person can learn from ``data``; never raises for bad frames.

    With a key, the MAC decides the direction: the external AAD binds it (RFC 9052 §4.3), so
    an authentic frame verifies in exactly one. Only that direction's verdict on the payload
    means anything; the other direction's failed MAC is no news. ``mac_verified`` says whether
    the MAC verified at all, ``verified`` whether the frame would be accepted.
    """
    report: dict[str, Any] = {"bytes": len(data), "verified": False}
    try:
        _protected, alg, seq, kid, payload, tag = cose.parse(data)
    except ProtocolError as exc:
        report.update(reason=exc.reason, detail=exc.detail)
        return report
    report.update(kid=kid.hex(), seq=seq, alg=alg, tag_bytes=len(tag))
    tried = ("up", "down") if direction == "auto" else (direction,)
    if key is not None:
        authentic = [name for name in tried if _mac_verifies(data, name, key)]
        report["mac_verified"] = bool(authentic)
        if not authentic:
            where = ("in neither direction (up nor down)" if len(tried) > 1
                     else f"for direction {tried[0]}")
            report.update(reason=BAD_MAC, detail=f"the MAC does not verify {where} with this "
                          "key: a wrong key, or a forged or damaged frame")
            return report
        tried = (authentic[0],)
    errors: list[tuple[str, ProtocolError]] = []
    for name in tried:
        try:
            msg = messages.decode(payload, _DIRECTIONS[name])
        except ProtocolError as exc:
            errors.append((name, exc))
            continue
        report.update(direction=name, message=msg)
        if key is None:
            report.update(reason="no_key", detail="no --key given: content shown unverified")
        else:
            report.update(verified=True, reason=None)
        return report
    # Unverified and refused both ways: the error of the direction the type travels (the one
    # that is not WRONG_DIRECTION) says what is wrong with the payload.
    name, error = next(((n, e) for n, e in errors if e.reason != WRONG_DIRECTION), errors[0])
    report.update(reason=error.reason, detail=error.detail)
    if key is not None:
        report.update(direction=name,
                      detail=f"the MAC verifies ({name}), but the payload is refused: "
                      f"{error.detail}")
    return report


def _mac_verifies(data: bytes, direction: str, key: cose.MacKey) -> bool:
    try:
        cose.open_frame(data, _DIRECTIONS[direction], lambda _kid: key)
    except ProtocolError:
        return False
    return True


def _decode(args: argparse.Namespace) -> int:
    try:
        data = parse_hex(_read_arg(args.hex), "frame")
        key = _key(args.key) if args.key else None
    except ValueError as exc:
        return _usage_error(str(exc))
    report = decode_report(data, key, args.direction)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["verified"] else 1


def _encode(args: argparse.Namespace) -> int:
    try:
        key = _key(args.key)
        kid = parse_hex(args.kid, "--kid")
        msg = json.loads(_read_arg(args.json))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return _usage_error(str(exc))
    try:
        payload = messages.encode(msg)
        frame = cose.seal(payload, key, kid, args.seq, messages.direction_of(msg["type"]),
                          args.alg)
    except ProtocolError as exc:
        return _usage_error(f"message rejected: {exc}")
    print(frame.hex())
    return 0
