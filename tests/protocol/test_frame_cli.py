"""`trygg frame decode|encode`: what a technician sees for a captured frame, and that the key
given on the command line never appears in any output."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.protocol import KEY, KID, MAC_KEY, all_samples, seal_raw
from trygg.protocol import cbor, cose, frame, messages
from trygg.tools.cli import main as cli

KEY_HEX = KEY.hex()
OTHER_KEY_HEX = "77" * 32
EVENT = {"type": "event", "uptime": 5, "time": 1_795_000_000, "event": "motion"}
EVENT_FRAME = frame.seal(EVENT, MAC_KEY, KID, 4711)
COMMAND = {"type": "command", "command_id": 3, "command": "identify", "seconds": 10}
COMMAND_FRAME = frame.seal(COMMAND, MAC_KEY, KID, 12)


def key_spellings(key_hex: str) -> list[str]:
    """Ways the key could leak: as given, upper case, with separators, as raw bytes' repr."""
    raw = bytes.fromhex(key_hex)
    return [key_hex, key_hex.upper(), ":".join(key_hex[i:i + 2] for i in range(0, 64, 2)),
            key_hex[:16], repr(raw)[2:20]]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`trygg ARGV` in-process: (exit code, stdout, stderr). The key never leaks."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    for secret in key_spellings(KEY_HEX) + key_spellings(OTHER_KEY_HEX):
        assert secret not in out + err, f"key material in the output of {argv[:2]}"
    assert "Traceback" not in out + err
    return code, out, err


def decode(capsys: pytest.CaptureFixture[str], data: bytes | str, *options: str
           ) -> tuple[int, dict[str, Any], str]:
    hex_frame = data if isinstance(data, str) else data.hex()
    code, out, err = run(capsys, "frame", "decode", hex_frame, *options)
    return code, json.loads(out) if out else {}, err


def test_decode_with_the_right_key_shows_the_verified_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _err = decode(capsys, EVENT_FRAME, "--key", KEY_HEX)
    assert code == 0
    assert report["verified"] is True
    assert report["reason"] is None
    assert report["message"] == EVENT
    assert (report["kid"], report["seq"], report["alg"], report["direction"]) == (
        KID.hex(), 4711, cose.ALG_HMAC_256_64, "up")
    assert report["bytes"] == len(EVENT_FRAME)


def test_decode_finds_the_direction_of_a_hub_to_device_frame(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _err = decode(capsys, COMMAND_FRAME, "--key", KEY_HEX)
    assert code == 0
    assert (report["direction"], report["message"]) == ("down", COMMAND)


def test_decode_with_the_wrong_key_says_bad_mac_and_exits_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _err = decode(capsys, EVENT_FRAME, "--key", OTHER_KEY_HEX)
    assert code == 1
    assert report["verified"] is False
    assert report["reason"] == "bad_mac"
    assert "message" not in report  # nothing unauthenticated is passed off as verified


def test_decode_with_a_forced_wrong_direction_says_bad_mac(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _err = decode(capsys, EVENT_FRAME, "--key", KEY_HEX, "--direction", "down")
    assert (code, report["verified"], report["reason"]) == (1, False, "bad_mac")


def test_decode_without_a_key_shows_the_content_unverified(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _err = decode(capsys, EVENT_FRAME)
    assert code == 1
    assert report["verified"] is False
    assert report["reason"] == "no_key"
    assert report["message"] == EVENT
    assert "unverified" in report["detail"]


@pytest.mark.parametrize(
    "spelling",
    [EVENT_FRAME.hex().upper(), "0x" + EVENT_FRAME.hex(),
     " ".join(f"{b:02x}" for b in EVENT_FRAME), ":".join(f"{b:02x}" for b in EVENT_FRAME),
     EVENT_FRAME.hex()[:40] + "\n" + EVENT_FRAME.hex()[40:] + "\n"],
    ids=["upper", "0x", "spaces", "colons", "lines"],
)
def test_decode_accepts_hex_as_people_paste_it(capsys: pytest.CaptureFixture[str],
                                               spelling: str) -> None:
    code, report, _err = decode(capsys, spelling, "--key", KEY_HEX)
    assert (code, report["message"]) == (0, EVENT)


def test_decode_reads_the_frame_from_stdin(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(EVENT_FRAME.hex() + "\n"))
    code, report, _err = decode(capsys, "-", "--key", KEY_HEX)
    assert (code, report["message"]) == (0, EVENT)


# Frames whose MAC verifies in one direction but whose payload that direction refuses: the
# report must name the payload's fault, not the other direction's failed MAC.
AUTHENTIC_BUT_REFUSED = [
    pytest.param(seal_raw(cbor.encode({0: 2, 1: 5, 3: 99}), cose.UP), "up", "schema",
                 id="up: unknown event code"),
    pytest.param(seal_raw(bytes.fromhex("a3000201180503 01".replace(" ", "")), cose.UP), "up",
                 "non_canonical", id="up: overlong integer"),
    pytest.param(seal_raw(messages.encode({"type": "command", "command_id": 1,
                                           "command": "reboot"}), cose.UP), "up",
                 "wrong_direction", id="up: a command sent upstream"),
    pytest.param(seal_raw(cbor.encode({0: 17, 1: 1, 2: 99}), cose.DOWN), "down", "schema",
                 id="down: unknown command kind"),
    pytest.param(seal_raw(messages.encode(EVENT), cose.DOWN), "down", "wrong_direction",
                 id="down: an event sent downstream"),
]


@pytest.mark.parametrize(("data", "direction", "reason"), AUTHENTIC_BUT_REFUSED)
def test_decode_of_an_authentic_frame_names_the_payload_fault_not_bad_mac(
        capsys: pytest.CaptureFixture[str], data: bytes, direction: str, reason: str) -> None:
    for options in ((), ("--direction", direction)):
        code, report, _err = decode(capsys, data, "--key", KEY_HEX, *options)
        assert (code, report["verified"], report["reason"]) == (1, False, reason), options
        assert (report["direction"], report["mac_verified"]) == (direction, True)
        assert "message" not in report
        assert f"MAC verifies ({direction})" in report["detail"]


def test_decode_with_the_wrong_key_says_the_mac_verifies_in_neither_direction(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _err = decode(capsys, seal_raw(cbor.encode({0: 2, 1: 5, 3: 99}), cose.UP),
                                "--key", OTHER_KEY_HEX)
    assert (code, report["reason"], report["mac_verified"]) == (1, "bad_mac", False)
    assert "neither direction" in report["detail"]
    assert "direction" not in report


@pytest.mark.parametrize(("data", "direction", "reason"), AUTHENTIC_BUT_REFUSED)
def test_decode_without_a_key_names_the_payload_fault_of_the_direction_its_type_travels(
        capsys: pytest.CaptureFixture[str], data: bytes, direction: str, reason: str) -> None:
    code, report, _err = decode(capsys, data)
    if reason == "wrong_direction":  # unverified, the type's own direction is the one to show
        assert (code, report["reason"]) == (1, "no_key")
        assert report["direction"] != direction
        return
    assert (code, report["verified"], report["reason"]) == (1, False, reason)
    assert "mac_verified" not in report


@pytest.mark.parametrize(
    ("data", "reason"),
    [(EVENT_FRAME[:-3], "truncated"), (b"\xd2" + EVENT_FRAME[1:], "wrong_tag"),
     (EVENT_FRAME + bytes(300), "oversized"), (b"", "truncated")],
    ids=["truncated", "wrong tag", "oversized", "empty"],
)
def test_decode_of_a_broken_frame_names_the_reason_and_exits_1(
        capsys: pytest.CaptureFixture[str], data: bytes, reason: str) -> None:
    code, report, _err = decode(capsys, data, "--key", KEY_HEX)
    assert (code, report["verified"], report["reason"]) == (1, False, reason)
    assert report["detail"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["frame", "decode", "zz" + EVENT_FRAME.hex(), "--key", KEY_HEX], "frame: not valid hex"),
        (["frame", "decode", EVENT_FRAME.hex()[:-1], "--key", KEY_HEX], "frame: not valid hex"),
        (["frame", "decode", EVENT_FRAME.hex(), "--key", KEY_HEX[:-2]], "--key: 31 bytes"),
        (["frame", "decode", EVENT_FRAME.hex(), "--key", KEY_HEX + "00"], "--key: 33 bytes"),
        (["frame", "decode", EVENT_FRAME.hex(), "--key", "g" + KEY_HEX[1:]], "--key: not valid"),
        (["frame", "encode", json.dumps(EVENT), "--key", KEY_HEX[:-2], "--kid", KID.hex(),
          "--seq", "1"], "--key: 31 bytes"),
        (["frame", "encode", "{not json", "--key", KEY_HEX, "--kid", KID.hex(), "--seq", "1"],
         "trygg frame:"),
        (["frame", "encode", json.dumps(EVENT), "--key", KEY_HEX, "--kid", "xyz", "--seq", "1"],
         "--kid: not valid hex"),
        (["frame", "encode", json.dumps({"type": "event"}), "--key", KEY_HEX, "--kid", KID.hex(),
          "--seq", "1"], "message rejected: schema"),
        (["frame", "encode", json.dumps(EVENT), "--key", KEY_HEX, "--kid", KID.hex(),
          "--seq", str(cose.MAX_SEQ + 1)], "message rejected: sequence_exhausted"),
        (["frame", "encode", json.dumps(EVENT), "--key", KEY_HEX, "--kid", "00" * 17,
          "--seq", "1"], "message rejected: bad_header"),
    ],
    ids=["garbage hex", "odd hex digits", "short key", "long key", "key not hex",
         "encode short key", "bad json", "kid not hex", "schema", "seq too large", "long kid"],
)
def test_bad_arguments_exit_2_with_a_clear_message_and_no_traceback(
        capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("trygg frame: ")
    assert says in err


def test_encode_of_a_message_whose_type_is_a_list_exits_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "frame", "encode", '{"type": []}', "--key", KEY_HEX,
                          "--kid", KID.hex(), "--seq", "1")
    assert code == 2
    assert "message rejected" in err


@pytest.mark.parametrize("alg", ["4", "5"])
@pytest.mark.parametrize(("name", "msg"), all_samples(), ids=[n for n, _m in all_samples()])
def test_encode_then_decode_round_trips_every_sample(capsys: pytest.CaptureFixture[str],
                                                    name: str, msg: dict[str, Any],
                                                    alg: str) -> None:
    code, out, _err = run(capsys, "frame", "encode", json.dumps(msg), "--key", KEY_HEX,
                          "--kid", KID.hex(), "--seq", "300", "--alg", alg)
    assert code == 0
    assert bytes.fromhex(out.strip()) == frame.seal(msg, MAC_KEY, KID, 300, int(alg))
    code, report, _err = decode(capsys, out.strip(), "--key", KEY_HEX)
    assert (code, report["message"], report["seq"], report["alg"]) == (0, msg, 300, int(alg))


# --- as a real command ---------------------------------------------------------------------------

def trygg_command() -> list[str]:
    installed = Path(sys.executable).parent / "trygg"
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-m", "trygg.tools.cli.main"]


def run_command(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*trygg_command(), *argv], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)
    for secret in key_spellings(KEY_HEX) + key_spellings(OTHER_KEY_HEX):
        assert secret not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def test_trygg_command_encodes_and_decodes_a_frame() -> None:
    encoded = run_command("frame", "encode", "-", "--key", KEY_HEX, "--kid", KID.hex(),
                          "--seq", "4711", stdin=json.dumps(EVENT))
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.strip() == EVENT_FRAME.hex()
    decoded = run_command("frame", "decode", encoded.stdout.strip(), "--key", KEY_HEX)
    assert decoded.returncode == 0, decoded.stderr
    report = json.loads(decoded.stdout)
    assert (report["verified"], report["message"]) == (True, EVENT)


def test_trygg_command_reports_wrong_key_and_garbage_by_exit_code() -> None:
    wrong = run_command("frame", "decode", EVENT_FRAME.hex(), "--key", OTHER_KEY_HEX)
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["reason"] == "bad_mac"
    garbage = run_command("frame", "decode", "not-a-frame", "--key", KEY_HEX)
    assert garbage.returncode == 2
    assert garbage.stdout == ""
    assert "not valid hex" in garbage.stderr
