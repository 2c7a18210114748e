"""`trygg provision` for the ESP-NOW part of a home: the bridge on the hub's USB port, then a
battery device that reaches the hub only through it, and sleeps between wakes.

Real parts: the MicroPython unix port behind socat ptys (the same serial path as a USB ESP32;
each board flashed with the production image), mosquitto, `trygg hub run` reading the bridge
with pyserial, and `trygg provision` as a technician runs it. The one stand-in is the air
between the boards (the simulated ESP-NOW medium, tools/sim/espnow_medium.py): the unix port
has no radio.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.polling import wait_for
from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.protocol import bridge as bridge_line
from trygg.tools.device.provision import pair
from trygg.tools.sim.espnow_home import add_bridge_section
from trygg.tools.sim.espnow_medium import EspNowMedium
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.pty import PtyBoard

pytestmark = pytest.mark.micropython
CLI = [sys.executable, "-m", "trygg.tools.cli.main"]
WAIT_S = 60.0


def provision(board: PtyBoard, config: Path, role: str, room: str,
              *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "provision", "--port", board.port, "--role", role, "--room", room, "--config",
         str(config), "--json", *extra],
        capture_output=True, text=True, timeout=WAIT_S + 180, stdin=subprocess.DEVNULL)


def stored(config: Path, device_id: str) -> list[tuple[str, str | None]]:
    store = Store(hub_config.load(config).database)
    try:
        return [(e.type, e.name) for e in store.events(device_id=device_id)]
    finally:
        store.close()


def sleeps(board: PtyBoard) -> int:
    """How often the board has gone to deep sleep (its supervisor's log)."""
    try:
        return board.log_path.read_text().count("micropython exited with 76")
    except OSError:
        return 0


class EspNowInstall:
    """A hub's configuration naming the bridge's pty as its [bridge] port, its broker, and
    the hub when started; the medium between the boards."""

    def __init__(self, folder: Path, medium: EspNowMedium) -> None:
        self.folder = folder
        self.medium = medium
        self.config = write_hub_config(folder / "hub", mqtt_port=free_port())
        self.bridge = PtyBoard(folder / "bridge", romfs=True, radio_port=medium.port)
        add_bridge_section(self.config, self.bridge)
        self.broker = start_broker(self.config.parent, hub_config.load(self.config).mqtt.port)
        self.hub: subprocess.Popen[bytes] | None = None
        self.boards = [self.bridge]

    def start_hub(self) -> None:
        self.hub = subprocess.Popen([*CLI, "hub", "run", "--config", str(self.config),
                                     "--log-level", "info"], stdin=subprocess.DEVNULL,
                                    stdout=(self.folder / "hub.log").open("ab"),
                                    stderr=subprocess.STDOUT)

    def battery_board(self, name: str) -> PtyBoard:
        board = PtyBoard(self.folder / name, romfs=True, radio_port=self.medium.port)
        self.boards.append(board)
        return board.start()

    def close(self) -> None:
        for board in self.boards:
            board.close()
        if self.hub is not None:
            self.hub.terminate()
            self.hub.wait(10)
        self.broker.__exit__(None, None, None)


@pytest.fixture
def install(tmp_path: Path) -> Iterator[EspNowInstall]:
    with EspNowMedium() as medium:
        home = EspNowInstall(tmp_path, medium)
        home.broker.__enter__()
        try:
            yield home
        finally:
            home.close()


def test_a_technician_installs_the_bridge_then_a_battery_motion_sensor(
        install: EspNowInstall) -> None:
    config = install.config
    install.bridge.start()
    # The bridge first, the hub not yet reading its port: no Wi-Fi, no broker, no waiting.
    done = provision(install.bridge, config, "bridge", "hall")
    assert done.returncode == 0, done.stderr
    bridge = json.loads(done.stdout)
    assert bridge["online"] is None
    assert "[bridge] port" in bridge["next"]
    written = json.loads((install.bridge.fs / "trygg.json").read_text())
    assert not {"wifi_ssid", "broker_host", "mqtt_password"} & set(written)
    install.start_hub()
    wait_for(lambda: ("heartbeat", None) in stored(config, bridge["device_id"]) or
             ("hello", None) in stored(config, bridge["device_id"]), "the bridge's first frame")

    # The battery device gets the paired bridge's MAC, and its hello comes through it.
    sensor = install.battery_board("motion")
    done = provision(sensor, config, "battery_motion", "bedroom")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["online"] is True
    assert result["bridge"] == bridge["device_id"]
    written = json.loads((sensor.fs / "trygg.json").read_text())
    assert written["bridge_mac"] == bridge_line.mac_for(bytes.fromhex(bridge["device_id"])).hex()
    assert not {"wifi_ssid", "broker_host", "mqtt_password"} & set(written)
    assert ("hello", None) in stored(config, result["device_id"])

    # It sleeps; the PIR wakes it, and the motion arrives through the bridge.
    asleep = wait_for(lambda: sleeps(sensor), "the sensor's first deep sleep")
    assert sensor.control("pulse pir") == "ok"
    wait_for(lambda: ("event", "motion") in stored(config, result["device_id"]),
             "the motion event through the bridge")
    wait_for(lambda: sleeps(sensor) > asleep, "the sensor asleep again")

    # Provisioning it again while it sleeps: the tool asks for its reset button and catches
    # the REPL in the seconds it stays awake after that start; the key is rotated.
    again = subprocess.Popen(
        [*CLI, "provision", "--port", sensor.port, "--role", "battery_motion", "--room",
         "bedroom", "--config", str(config), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert again.stderr is not None
        asked = again.stderr.readline()
        assert "press its reset button" in asked, asked
        assert sensor.control("reset") == "ok reset"  # the EN button of the sleeping board
        out, err = again.communicate(timeout=WAIT_S + 120)
    finally:
        if again.poll() is None:
            again.kill()
    assert again.returncode == 0, asked + err
    assert out, asked + err
    second = json.loads(out)
    assert (second["device_id"], second["key_rotated"], second["online"]) == (
        result["device_id"], True, True)


def test_battery_provisioning_refuses_before_anything_changes(
        install: EspNowInstall) -> None:
    config = install.config
    sensor = install.battery_board("button")
    before = sorted(os.listdir(sensor.fs))
    # No bridge is paired yet.
    done = provision(sensor, config, "button", "hall", "--no-wait-online")
    assert done.returncode == 2
    assert "no ESP-NOW bridge is paired with this hub" in done.stderr, done.stderr
    # Wi-Fi or a broker address for a device without either.
    done = provision(sensor, config, "button", "hall", "--wifi-ssid", "home", "--wifi-open")
    assert done.returncode == 2
    assert "--wifi-ssid: a button has no Wi-Fi" in done.stderr, done.stderr
    done = provision(sensor, config, "button", "hall", "--hub", "127.0.0.1:1883")
    assert done.returncode == 2
    assert "a button does not use the broker" in done.stderr, done.stderr
    # Two bridges: which one carries it must be said, and be one of them.
    hub_cfg = hub_config.load(config)
    for _ in range(2):
        pair(hub_cfg, os.urandom(6).hex(), "bridge", "hall", None, None, os.urandom(32))
    done = provision(sensor, config, "button", "hall", "--no-wait-online")
    assert done.returncode == 2
    assert "this hub has 2 bridges" in done.stderr, done.stderr
    done = provision(sensor, config, "button", "hall", "--bridge", "0123456789ab")
    assert done.returncode == 2
    assert "--bridge 0123456789ab: no bridge with that device id" in done.stderr, done.stderr
    assert sorted(os.listdir(sensor.fs)) == before

    # A bridge on the port the running hub reads is refused: both would read the line.
    install.bridge.start()
    install.start_hub()
    from trygg.hub.instance_lock import running_pid

    wait_for(lambda: running_pid(hub_config.load(config).database), "the hub to start")
    done = provision(install.bridge, config, "bridge", "hall")
    assert done.returncode == 2
    assert "the hub service reads it" in done.stderr, done.stderr
