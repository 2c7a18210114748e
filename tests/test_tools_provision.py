"""`trygg provision` over a pty brings a fresh simulated board into a running home.

Real parts: a simulated board (MicroPython unix port on a socat pty, empty flash as after
`trygg flash`), mosquitto with the hub's password and ACL files, and `trygg hub run`. The path
is the one a technician takes with a USB-attached ESP32; only the radio is simulated.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.tools.home import start_broker, write_hub_config
from trygg.tools.mosquitto import Mosquitto, free_port
from trygg.tools.sim_pty import PtyBoard

WAIT_S = 45.0


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, Mosquitto]]:
    folder = tmp_path / "hub"
    config = write_hub_config(folder, mqtt_port=free_port())
    broker = start_broker(folder, hub_config.load(config).mqtt.port)
    with broker:
        hub = subprocess.Popen([sys.executable, "-m", "trygg.tools.cli", "hub", "run",
                                "--config", str(config), "--log-level", "warning"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            yield config, broker
        finally:
            hub.terminate()
            hub.wait(timeout=10)


def provision(port: str, config: Path, broker: Mosquitto, *extra: str
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trygg.tools.cli", "provision", "--port", port, "--role",
         "motion", "--room", "hall", "--config", str(config), "--hub",
         f"127.0.0.1:{broker.port}", "--heartbeat-s", "5", "--wait-online", str(WAIT_S),
         "--json", *extra],
        capture_output=True, text=True, timeout=WAIT_S + 120, stdin=subprocess.DEVNULL)


def stored_events(config: Path, device_id: str) -> list[tuple[str, str | None]]:
    """(type, event name) of every frame the hub stored from the device."""
    store = Store(hub_config.load(config).database)
    try:
        return [(e.type, e.name) for e in store.events(device_id=device_id)]
    finally:
        store.close()


def device_key(config: Path, device_id: str) -> bytes:
    store = Store(hub_config.load(config).database)
    try:
        device = store.device(device_id)
        assert device is not None
        return device.key
    finally:
        store.close()


def wait_for(check: Any, what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_fresh_board_is_provisioned_over_its_pty_and_reports_to_the_hub(
        home: tuple[Path, Mosquitto], tmp_path: Path) -> None:
    config, broker = home
    with PtyBoard(tmp_path / "board") as board:
        assert not any(board.fs.iterdir())  # empty flash, as after `trygg flash`
        done = provision(board.port, config, broker)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["self_test"] == "passed"
        assert result["online"] is True
        device_id = result["device_id"]
        # The hub heard the hello; a PIR pulse becomes a stored, verified motion event.
        assert ("hello", None) in stored_events(config, device_id)
        board.control("pulse pir")
        wait_for(lambda: ("event", "motion") in stored_events(config, device_id),
                 "the motion event")
        key = device_key(config, device_id).hex()
        assert key not in done.stdout + done.stderr

        # Provisioning again keeps the id and zone and rotates the key.
        again = provision(board.port, config, broker)
        assert again.returncode == 0, again.stderr
        second = json.loads(again.stdout)
        assert (second["device_id"], second["zone"]) == (device_id, result["zone"])
        assert second["key_rotated"] is True
        assert second["online"] is True
        new_key = device_key(config, device_id).hex()
        assert new_key != key
        assert new_key not in again.stdout + again.stderr


def test_provisioning_refuses_a_missing_port_and_a_bad_hub_address(
        home: tuple[Path, Mosquitto], tmp_path: Path) -> None:
    config, broker = home
    missing = provision("/dev/ttyUSB-none", config, broker)
    assert missing.returncode == 2
    assert "no such port" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "trygg.tools.cli", "provision", "--port", "/dev/null", "--role",
         "motion", "--room", "hall", "--config", str(config), "--hub", "127.0.0.1:notaport"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2
    assert "port must be a number" in bad.stderr
