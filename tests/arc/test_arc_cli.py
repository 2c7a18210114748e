"""`trygg arc listen`, `trygg arc test-alarm` and `trygg hub test-alarm`, run as a technician
runs them, against pysiaalarm (``ArcConsole``) as the receiver."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import time
from pathlib import Path

from support.arc import HUB, KEY_256, arc_table, receiver
from support.hub import TRYGG, write_hub_toml
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.mosquitto import free_port


def _listen(port: int, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*TRYGG, "arc", "listen", "--port", str(port), "--account", "5678",
                             "--count", "1", *extra], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("listening on")  # bounded: the server starts
    return proc


def test_test_alarm_reaches_listen_and_prints_ack_and_round_trip(tmp_path: Path) -> None:
    port = free_port()
    listen = _listen(port, "--key", KEY_256.hex())
    try:
        result = subprocess.run(
            [*TRYGG, "arc", "test-alarm", "--port", str(port), "--account", "5678",
             "--key", KEY_256.hex(), "--format", "ADM-CID", "--timeout", "5"],
            capture_output=True, text=True, timeout=30, check=False)
        out, _ = listen.communicate(timeout=30)
    finally:
        listen.kill()
        listen.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "OK  ACK" in result.stdout
    assert "round trip" in result.stdout
    event_line = out.splitlines()[-1]
    assert "account 5678" in event_line
    assert "TEST" in event_line
    assert "CID 1601" in event_line
    assert "AES" in event_line


async def test_hub_test_alarm_prints_each_receivers_ack_and_round_trip(tmp_path: Path) -> None:
    up, down = free_port(), free_port()  # nothing listens on the second
    config = write_hub_toml(tmp_path, None, arc=arc_table(receiver("primary", up),
                                                          receiver("secondary", down)))
    async with ArcConsole(up, [(HUB, None)]) as centre:
        proc = await asyncio.create_subprocess_exec(
            *TRYGG, "hub", "test-alarm", "--config", str(config), "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
        assert await centre.wait_until(lambda events: len(events) >= 1, 10)
    assert proc.returncode == 1, err.decode()  # not every receiver acknowledged
    primary, secondary = json.loads(out)
    assert (primary["receiver"], primary["ok"], primary["detail"]) == ("primary", True, "ACK")
    assert primary["address"] == f"tcp://127.0.0.1:{up}"
    assert primary["round_trip_ms"] > 0
    assert (secondary["receiver"], secondary["ok"], secondary["round_trip_ms"]) == (
        "secondary", False, None)
    (test_report,) = centre.events
    assert (test_report.account, test_report.kind, test_report.code, test_report.sequence) == (
        HUB, "test", "RX", primary["sequence"])
    # Sequence numbers come from the hub's own ARC outbox (owner-only, like the event store),
    # so a test never reuses a number a real alarm carries.
    outbox = tmp_path / "arc-outbox.sqlite"
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
    assert secondary["sequence"] == primary["sequence"] + 1


def test_arc_test_alarm_with_hub_config_is_the_hub_command(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    config = write_hub_toml(tmp_path, None, arc=arc_table(receiver("primary", port)))
    started = time.monotonic()
    result = subprocess.run([*TRYGG, "arc", "test-alarm", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "primary" in result.stdout
    assert "FAIL" in result.stdout
    assert time.monotonic() - started < 30
    assert (tmp_path / "arc-outbox.sqlite").exists()


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = write_hub_toml(tmp_path, None, arc=arc_table(receiver("p", 1, key="abcd")))
    for command in (["arc", "test-alarm"], ["hub", "test-alarm"]):
        result = subprocess.run([*TRYGG, *command, "--config", str(config)],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 2
        assert "[arc].receivers[0].key: 2 bytes" in result.stderr
        assert str(config) in result.stderr


def test_hub_test_alarm_without_arc_section_says_so(tmp_path: Path) -> None:
    config = write_hub_toml(tmp_path, None)
    result = subprocess.run([*TRYGG, "hub", "test-alarm", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert f"{config}: no [arc] section" in result.stderr


def test_listen_rejects_bad_key() -> None:
    result = subprocess.run([*TRYGG, "arc", "listen", "--port", "9", "--account", "5678",
                             "--key", "abc"], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 2
    assert "--key" in result.stderr
