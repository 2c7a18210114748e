"""`trygg arc listen` and `trygg arc test-alarm`, run as a technician runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from arc_support import KEY_256
from trygg.tools.mosquitto import free_port

TRYGG = [sys.executable, "-m", "trygg.tools.cli"]


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


def test_test_alarm_with_hub_config_reports_unreachable_receiver(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    config = tmp_path / "hub.toml"
    config.write_text(f"""
[arc]
account = "1234"
ack_timeout = 0.5
connect_timeout = 0.5

[[arc.receivers]]
name = "primary"
host = "127.0.0.1"
port = {port}
""")
    started = time.monotonic()
    result = subprocess.run([*TRYGG, "arc", "test-alarm", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "primary" in result.stdout
    assert "FAIL" in result.stdout
    assert time.monotonic() - started < 30


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[arc]\naccount = "1234"\n[[arc.receivers]]\nname = "p"\n'
                      'host = "127.0.0.1"\nport = 1\nkey = "abcd"\n')
    result = subprocess.run([*TRYGG, "arc", "test-alarm", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "[arc].receivers[0].key: 2 bytes" in result.stderr
    assert str(config) in result.stderr


def test_listen_rejects_bad_key() -> None:
    result = subprocess.run([*TRYGG, "arc", "listen", "--port", "9", "--account", "5678",
                             "--key", "abc"], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 2
    assert "--key" in result.stderr
