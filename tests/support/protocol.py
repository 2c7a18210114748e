"""Shared pieces of the protocol tests: the test key and device id, a corpus of valid frames,
raw sealing of hand-made payloads, and reading a MicroPython script's JSON result.

The key and kid are the test-vector ones (trygg.tools.protocol.vectors), so a frame printed by a
failing test can be pasted into `trygg frame decode HEX --key 5e1f...` as it is.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from hypothesis import strategies as st

from trygg.protocol import cose, frame, messages
from trygg.protocol.errors import ProtocolError
from trygg.tools.protocol import samples as protocol_samples
from trygg.tools.protocol import vectors

KEY = vectors.KEY
KID = vectors.KID
MAC_KEY = cose.MacKey(KEY)
KEYS = {KID: MAC_KEY}
ALGS = (cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256)
# Partial IV widths 1 to 5 bytes (RFC 8613 §6.1), including each width's first and last value.
SEQS = (0, 1, 23, 24, 255, 256, 65_535, 65_536, protocol_samples.TYPICAL_SEQ, 0xFFFF_FFFF,
        1 << 32, cose.MAX_SEQ)
DIRECTION_NAMES = {cose.UP: "up", cose.DOWN: "down"}


def all_samples() -> list[tuple[str, dict[str, Any]]]:
    """Every sample message, typical and largest, named."""
    return [("typical/" + n, m) for n, m in protocol_samples.typical().items()] + [
        ("largest/" + n, m) for n, m in protocol_samples.largest().items()
    ]


def seal_raw(payload: bytes, direction: int = cose.UP, seq: int = 7, *, kid: bytes = KID,
             key: cose.MacKey = MAC_KEY, alg: int = cose.ALG_HMAC_256_64) -> bytes:
    """A correctly MACed frame around any payload bytes (even ones messages.py would refuse)."""
    return cose.seal(payload, key, kid, seq, direction, alg, limit=None)


def valid_frames() -> list[tuple[str, bytes, int]]:
    """``(name, frame, direction)`` for every sample message at a spread of sequence numbers
    and both algorithms: the seed corpus for truncation, mutation and interop tests."""
    out = []
    for i, (name, msg) in enumerate(all_samples()):
        direction = messages.direction_of(msg["type"])
        for alg in ALGS:
            for seq in (SEQS[i % len(SEQS)], SEQS[(i + 5) % len(SEQS)]):
                data = frame.seal(msg, MAC_KEY, KID, seq, alg)
                out.append((f"{name}/alg{alg}/seq{seq}", data, direction))
    return out


def rejection(data: bytes, direction: int = cose.UP, window: Any = None) -> str | None:
    """The reason ``open_message`` rejects ``data`` with, or None if it accepts it.

    Any exception other than ProtocolError propagates and fails the calling test.
    """
    try:
        frame.open_message(data, direction, KEYS.get,
                           None if window is None else lambda _kid: window)
    except ProtocolError as exc:
        return exc.reason
    return None


def micropython_result(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON object a MicroPython test script printed as its last line."""
    assert proc.returncode == 0, f"MicroPython failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"MicroPython printed nothing:\n{proc.stderr}"
    return json.loads(lines[-1])


# --- valid messages of every kind, generated from the schema tables -------------------------------

def _field_values(kind: str, lo: Any, hi: Any) -> st.SearchStrategy[Any]:
    if kind in ("uint", "int"):
        return st.integers(min_value=lo, max_value=hi)
    if kind == "tstr":
        return st.text(max_size=hi).filter(lambda s: lo <= len(s.encode("utf-8")) <= hi)
    if kind == "enum":
        return st.sampled_from(lo)
    if kind == "bool":
        return st.booleans()
    if kind == "ranges":
        seq = st.integers(min_value=0, max_value=cose.MAX_SEQ)
        return st.lists(st.tuples(seq, seq).map(sorted), min_size=lo, max_size=hi)
    if kind == "doses":
        return st.lists(st.tuples(st.integers(0, 1439), st.integers(0, 255)), max_size=hi,
                        unique_by=lambda d: d[0]).map(lambda ds: [list(d) for d in sorted(ds)])
    if kind == "config":
        settings = {name: _field_values(spec[1], spec[2], spec[3])
                    for name, spec in messages.CONFIG_KEYS.items()}
        return st.fixed_dictionaries({}, optional=settings).filter(
            lambda c: lo <= len(c) <= hi)
    raise AssertionError("no strategy for field kind " + kind)


def _message_of(msg_type: str, command: str | None) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {"type": st.just(msg_type)}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, _key, kind, is_required, lo, hi in messages.FIELDS[msg_type]:
        values = _field_values(kind, lo, hi)
        if name == "command":
            required[name] = st.just(command)
        elif msg_type == messages.COMMAND and not is_required:
            # A command carries exactly the fields of its kind (messages.COMMAND_FIELDS).
            assert command is not None
            if name in messages.COMMAND_FIELDS[command]:
                required[name] = values
        elif is_required:
            required[name] = values
        else:
            optional[name] = values
    return st.fixed_dictionaries(required, optional=optional)


def valid_messages(direction: int | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Any valid message (of one direction if given), every field within its limits."""
    kinds = []
    for msg_type, (_wire, msg_direction) in messages.TYPES.items():
        if direction is not None and msg_direction != direction:
            continue
        if msg_type == messages.COMMAND:
            kinds += [_message_of(msg_type, c) for c in messages.COMMANDS]
        else:
            kinds.append(_message_of(msg_type, None))
    return st.one_of(kinds)
