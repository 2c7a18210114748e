"""Interoperability with independent COSE implementations (RFC 9052): frames sealed by the
project's code running in real MicroPython verify with pycose and cwt on CPython, and COSE_Mac0
frames made by pycose and cwt open in the project's code on CPython and inside MicroPython."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cwt import COSE, COSEKey, VerifyError
from pycose.algorithms import HMAC256, HMAC25664
from pycose.headers import KID as KID_HEADER
from pycose.headers import Algorithm, PartialIV
from pycose.keys import SymmetricKey
from pycose.messages import CoseMessage, Mac0Message

from support import mpy
from support.protocol import ALGS, KEY, KEYS, KID, all_samples, micropython_result, rejection
from trygg.protocol import cose, frame, messages
from trygg.protocol.errors import NON_CANONICAL

EXTERNAL_AAD = {cose.UP: b"trygg/1/up", cose.DOWN: b"trygg/1/down"}
PYCOSE_ALGS = {cose.ALG_HMAC_256_64: HMAC25664, cose.ALG_HMAC_256_256: HMAC256}
CWT_ALGS = {cose.ALG_HMAC_256_64: "HMAC 256/64", cose.ALG_HMAC_256_256: "HMAC 256/256"}
INTEROP_SEQS = (0, 255, 65_536, cose.MAX_SEQ)


def pycose_seal(payload: bytes, seq: int, alg: int, direction: int, *,
                alg_first: bool = True) -> bytes:
    """A COSE_Mac0 made by pycose. The protected header is built alg first, then the Partial IV
    as bytes: the deterministic order (RFC 8949 §4.2.1) Trygg's decoder demands."""
    piv = cose.encode_partial_iv(seq)
    protected: dict[Any, Any] = ({Algorithm: PYCOSE_ALGS[alg], PartialIV: piv} if alg_first
                                 else {PartialIV: piv, Algorithm: PYCOSE_ALGS[alg]})
    msg = Mac0Message(phdr=protected, uhdr={KID_HEADER: KID}, payload=payload,
                      external_aad=EXTERNAL_AAD[direction])
    msg.key = SymmetricKey(k=KEY)
    data: bytes = msg.encode(tag=True)
    return data


def pycose_verifies(data: bytes, direction: int) -> bool:
    msg = CoseMessage.decode(data)
    assert isinstance(msg, Mac0Message)
    msg.key = SymmetricKey(k=KEY)
    msg.external_aad = EXTERNAL_AAD[direction]
    verified: bool = msg.verify_tag()
    return verified


def cwt_key(alg: int) -> Any:
    return COSEKey.from_symmetric_key(KEY, alg=CWT_ALGS[alg], kid=KID)


def interop_cases() -> list[tuple[str, dict[str, Any], int, int]]:
    return [(f"{name}/alg{alg}/seq{seq}", msg, seq, alg)
            for name, msg in all_samples() for alg in ALGS for seq in INTEROP_SEQS]


# --- frames sealed inside MicroPython, verified by pycose and cwt --------------------------------

MPY_SEAL = r"""
import json
from protocol import frame, cose
key = cose.MacKey(bytes.fromhex(%(key)r))
kid = bytes.fromhex(%(kid)r)
with open(%(path)r) as f:
    cases = json.load(f)
for name, msg, seq, alg in cases:
    print(name + " " + frame.seal(msg, key, kid, seq, alg).hex())
print("done")
"""


@pytest.fixture(scope="module")
def micropython_frames(micropython_bin: Path, tmp_path_factory: pytest.TempPathFactory
                       ) -> dict[str, bytes]:
    """Every sample message sealed by protocol/ running inside MicroPython."""
    workdir = tmp_path_factory.mktemp("interop")
    cases = workdir / "cases.json"
    cases.write_text(json.dumps(interop_cases()))
    proc = mpy.run_micropython(micropython_bin, MPY_SEAL % {
        "key": KEY.hex(), "kid": KID.hex(), "path": str(cases)}, workdir=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split("\n")
    assert "done" in lines, proc.stdout[-500:]
    return {name: bytes.fromhex(hex_frame)
            for name, hex_frame in (line.split(" ") for line in lines if " " in line)}


CASES = interop_cases()


@pytest.mark.micropython
def test_micropython_seals_every_case_byte_identical_to_cpython(
        micropython_frames: dict[str, bytes]) -> None:
    assert len(micropython_frames) == len(CASES)
    for name, msg, seq, alg in CASES:
        assert micropython_frames[name] == frame.seal(msg, KEYS[KID], KID, seq, alg), name


def sealed_in_micropython(micropython_frames: dict[str, bytes]) -> list[tuple[Any, ...]]:
    """(name, message, seq, alg, frame, its direction, the other direction) per case."""
    out = []
    for name, msg, seq, alg in CASES:
        direction = messages.direction_of(msg["type"])
        other = cose.DOWN if direction == cose.UP else cose.UP
        out.append((name, msg, seq, alg, micropython_frames[name], direction, other))
    return out


@pytest.mark.micropython
def test_frames_sealed_in_micropython_verify_with_pycose(
        micropython_frames: dict[str, bytes]) -> None:
    for name, msg, seq, alg, data, direction, other in sealed_in_micropython(micropython_frames):
        assert pycose_verifies(data, direction), name
        assert not pycose_verifies(data, other), name  # the direction is bound by the AAD
        decoded = CoseMessage.decode(data)
        assert decoded.phdr == {Algorithm: PYCOSE_ALGS[alg],
                                PartialIV: cose.encode_partial_iv(seq)}
        assert decoded.uhdr == {KID_HEADER: KID}
        assert cbor2.loads(decoded.payload) == messages.to_wire(msg)


@pytest.mark.micropython
def test_frames_sealed_in_micropython_verify_with_cwt(
        micropython_frames: dict[str, bytes]) -> None:
    for name, msg, _seq, alg, data, direction, other in sealed_in_micropython(
            micropython_frames):
        payload = COSE.new().decode(data, cwt_key(alg), external_aad=EXTERNAL_AAD[direction])
        assert payload == messages.encode(msg), name
        with pytest.raises(VerifyError):
            COSE.new().decode(data, cwt_key(alg), external_aad=EXTERNAL_AAD[other])


# --- frames made by pycose and cwt, opened by the project's code ---------------------------------

def foreign_frames() -> list[tuple[str, bytes, dict[str, Any], int, int]]:
    """(name, frame, message, seq, alg) made by pycose and by cwt."""
    out = []
    for name, msg, seq, alg in CASES:
        direction = messages.direction_of(msg["type"])
        payload = messages.encode(msg)
        out.append(("pycose/" + name, pycose_seal(payload, seq, alg, direction), msg, seq, alg))
        if seq == INTEROP_SEQS[1]:
            made_by_cwt = COSE.new().encode_and_mac(
                payload, cwt_key(alg), protected={1: alg, 6: cose.encode_partial_iv(seq)},
                unprotected={4: KID}, external_aad=EXTERNAL_AAD[direction])
            out.append(("cwt/" + name, made_by_cwt, msg, seq, alg))
    return out


FOREIGN = foreign_frames()


@pytest.mark.parametrize(("name", "data", "msg", "seq", "alg"), FOREIGN,
                         ids=[f[0] for f in FOREIGN])
def test_frame_made_by_another_cose_library_opens_on_cpython(
        name: str, data: bytes, msg: dict[str, Any], seq: int, alg: int) -> None:
    direction = messages.direction_of(msg["type"])
    envelope, opened = frame.open_message(data, direction, KEYS.get)
    assert (envelope.kid, envelope.seq, envelope.alg, opened) == (KID, seq, alg, msg)


MPY_OPEN = r"""
import json
from protocol import frame, cose
from protocol.errors import ProtocolError
keys = {bytes.fromhex(%(kid)r): cose.MacKey(bytes.fromhex(%(key)r))}
dirs = {"up": cose.UP, "down": cose.DOWN}
with open(%(path)r) as f:
    for line in f:
        name, hex_frame, direction = line.split()
        try:
            env, msg = frame.open_message(bytes.fromhex(hex_frame), dirs[direction], keys.get)
            print(json.dumps([name, env.seq, env.alg, msg]))
        except ProtocolError as e:
            print(json.dumps([name, "refused", e.reason, e.detail]))
print(json.dumps(["done"]))
"""


@pytest.mark.micropython
def test_frames_made_by_other_cose_libraries_open_inside_micropython(
        run_micropython: mpy.RunMicroPython, tmp_path: Path) -> None:
    path = tmp_path / "foreign.txt"
    path.write_text("".join(
        f"{name} {data.hex()} {'up' if messages.direction_of(msg['type']) == cose.UP else 'down'}\n"
        for name, data, msg, _seq, _alg in FOREIGN))
    proc = run_micropython(MPY_OPEN % {"kid": KID.hex(), "key": KEY.hex(), "path": str(path)})
    assert micropython_result(proc) == ["done"]
    results = {row[0]: row[1:] for row in map(json.loads, proc.stdout.strip().splitlines()[:-1])}
    assert results == {name: [seq, alg, msg] for name, _data, msg, seq, alg in FOREIGN}


def test_pycose_frame_with_partial_iv_before_alg_is_refused_as_non_canonical() -> None:
    # pycose writes the protected header in insertion order; out of RFC 8949 §4.2.1 order the
    # frame verifies in pycose but Trygg refuses it, by design: one encoding per message.
    payload = messages.encode({"type": "event", "uptime": 5, "event": "motion"})
    data = pycose_seal(payload, 300, cose.ALG_HMAC_256_64, cose.UP, alg_first=False)
    assert pycose_verifies(data, cose.UP)
    assert rejection(data) == NON_CANONICAL
