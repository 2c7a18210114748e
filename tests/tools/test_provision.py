"""`trygg provision` brings a fresh board into a running home, and its sensors reach the hub.

By default the board is simulated: the MicroPython unix port on a socat pty with an empty
flash (as after `trygg flash`), driven through its control channel. With
`pytest --hil-port /dev/ttyUSB0 --hil-rig /dev/ttyUSB1 --hil-hub-host 192.168.1.20` the same
tests run on a real ESP32 whose inputs are wired to the HIL rig board (README: "Running
hardware-in-the-loop tests"). Real parts either way: mosquitto with the hub's password and ACL
files, `trygg hub run`, `trygg provision` over the serial port.
"""

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.hil import Board, SimulatedBoard, wifi_for_real_boards
from support.polling import wait_for
from trygg.firmware import VERSION as FIRMWARE_VERSION
from trygg.hub import config as hub_config
from trygg.hub.instance_lock import running_pid
from trygg.hub.store import Store
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.launch import ROMFS_IMAGE
from trygg.tools.sim.mosquitto import Mosquitto, free_port
from trygg.tools.sim.pty import PtyBoard

WAIT_S = 60.0


@pytest.fixture
def home(tmp_path: Path, board: Board) -> Iterator[tuple[Path, Mosquitto]]:
    with running_home(tmp_path, board.broker_host) as running:
        yield running


@contextlib.contextmanager
def running_home(tmp_path: Path, broker_host: str) -> Iterator[tuple[Path, Mosquitto]]:
    """A hub's configuration, its broker and `trygg hub run`."""
    folder = tmp_path / "hub"
    config = write_hub_config(folder, mqtt_port=free_port(), broker_host=broker_host)
    broker = start_broker(folder, hub_config.load(config).mqtt.port, host=broker_host)
    with broker:
        hub = subprocess.Popen([sys.executable, "-m", "trygg.tools.cli.main", "hub", "run",
                                "--config", str(config), "--log-level", "warning"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            database = hub_config.load(config).database
            wait_for(lambda: running_pid(database) or hub.poll() is not None, "the hub to start")
            assert hub.poll() is None, hub.stderr.read() if hub.stderr else hub.returncode
            yield config, broker
        finally:
            hub.terminate()
            hub.wait(timeout=10)


def provision(board: Board, config: Path, broker: Mosquitto, role: str = "motion",
              *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trygg.tools.cli.main", "provision", "--port", board.port, "--role",
         role, "--room", "hall", "--config", str(config), "--hub",
         f"{board.broker_host}:{broker.port}", "--heartbeat-s", "5", "--set", "resend_s=2",
         "--wait-online", str(WAIT_S), "--json", *wifi_for_real_boards(), *extra],
        capture_output=True, text=True, timeout=WAIT_S + 180, stdin=subprocess.DEVNULL)


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


def test_fresh_board_is_provisioned_over_its_serial_port_and_reports_to_the_hub(
        board: Board, home: tuple[Path, Mosquitto]) -> None:
    config, broker = home
    done = provision(board, config, broker)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["self_test"] == "passed"
    assert result["online"] is True
    device_id = result["device_id"]
    # The hub heard the hello; a PIR pulse becomes a stored, verified motion event.
    assert ("hello", None) in stored_events(config, device_id)
    assert board.control("pulse pir") == "ok"
    wait_for(lambda: ("event", "motion") in stored_events(config, device_id), "the motion event")
    key = device_key(config, device_id).hex()
    assert key not in done.stdout + done.stderr

    # Provisioning again keeps the id and zone and rotates the key.
    again = provision(board, config, broker)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["device_id"], second["zone"]) == (device_id, result["zone"])
    assert second["key_rotated"] is True
    assert second["online"] is True
    new_key = device_key(config, device_id).hex()
    assert new_key != key
    assert new_key not in again.stdout + again.stderr


@pytest.mark.micropython  # a simulated board, without the board fixture
def test_board_with_the_production_image_gets_its_configuration_and_no_code(
        tmp_path: Path) -> None:
    """A board flashed with Trygg's production image (packages in ROMFS; simulated, with
    exactly the ESP32's heap): provisioning copies only /main.py and the configuration,
    removes package copies an earlier install left on the filesystem (they would shadow the
    image and load their bytecode into the heap), and re-provisions it while it runs."""
    board = SimulatedBoard(tmp_path / "board", romfs=True)
    try:
        stale = board.flash / "protocol"
        stale.mkdir()
        (stale / "cose.mpy").write_bytes(b"M\x06")
        with running_home(tmp_path, board.broker_host) as (config, broker):
            done = provision(board, config, broker)
            assert done.returncode == 0, done.stderr
            result = json.loads(done.stdout)
            assert (result["code"], result["files"], result["online"]) == ("image", 1, True)
            assert sorted(p.name for p in board.flash.iterdir()) == ["data", "main.py",
                                                                      "trygg.json"]
            device_id = result["device_id"]
            assert board.control("pulse pir") == "ok"
            wait_for(lambda: ("event", "motion") in stored_events(config, device_id),
                     "the motion event")
            again = provision(board, config, broker)
            assert again.returncode == 0, again.stderr
            assert json.loads(again.stdout)["online"] is True
    finally:
        board.close()


@pytest.mark.micropython  # a simulated board, without the board fixture
def test_a_production_image_of_another_version_is_refused_before_anything_changes(
        tmp_path: Path) -> None:
    """The board's image carries another firmware version than the tool installs: provisioning
    stops with a clear error before touching the board (its image cannot be updated by copying
    files; it needs `trygg flash`)."""
    board = PtyBoard(tmp_path / "board", romfs=True)
    assert board.romfs is not None
    image = board.romfs / ROMFS_IMAGE
    # The version string is a constant in firmware/__init__.mpy inside the image; one of the
    # same length keeps the image valid (a stand-in for an image built from another release).
    data = image.read_bytes()
    assert data.count(FIRMWARE_VERSION.encode()) == 1
    image.write_bytes(data.replace(FIRMWARE_VERSION.encode(), b"9.9.9"))
    # Something that accepts connections where the device would find its broker (checked
    # before the board is), no hub service needed (--no-wait-online).
    with board, socket.create_server(("127.0.0.1", 0)) as listener:
        config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
        done = subprocess.run(
            [sys.executable, "-m", "trygg.tools.cli.main", "provision", "--port", board.port,
             "--role", "motion", "--room", "hall", "--config", str(config), "--hub",
             f"127.0.0.1:{listener.getsockname()[1]}", "--no-wait-online"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 2, done.stderr
        assert (f"carries Trygg firmware 9.9.9, this tool installs {FIRMWARE_VERSION}"
                in done.stderr)
        assert "Traceback" not in done.stderr
        assert list(board.fs.iterdir()) == []  # nothing written, nothing paired
        store = Store(hub_config.load(config).database)
        try:
            assert store.devices() == []
        finally:
            store.close()


def test_smoke_board_relays_the_alarm_line_to_the_hub(
        board: Board, home: tuple[Path, Mosquitto]) -> None:
    config, broker = home
    done = provision(board, config, broker, "smoke")
    assert done.returncode == 0, done.stderr
    device_id = json.loads(done.stdout)["device_id"]
    assert board.control("pin smoke_alarm 1") == "ok"
    wait_for(lambda: ("event", "smoke_alarm") in stored_events(config, device_id),
             "the smoke alarm")
    assert board.control("pin smoke_alarm 0") == "ok"
    wait_for(lambda: ("event", "smoke_clear") in stored_events(config, device_id),
             "the smoke clear")


def test_provisioning_refuses_a_missing_port_and_a_bad_hub_address(tmp_path: Path) -> None:
    config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
    missing = subprocess.run(
        [sys.executable, "-m", "trygg.tools.cli.main", "provision", "--port", "/dev/ttyUSB-none",
         "--role", "motion", "--room", "hall", "--config", str(config), "--hub", "127.0.0.1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert missing.returncode == 2
    assert "no such port" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "trygg.tools.cli.main", "provision", "--port", "/dev/null", "--role",
         "motion", "--room", "hall", "--config", str(config), "--hub", "127.0.0.1:notaport"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2
    assert "port must be a number" in bad.stderr


def test_provisioning_refuses_another_roles_setting_before_touching_the_board(
        tmp_path: Path) -> None:
    # The port does not exist: the setting must be refused first, naming the role's own.
    config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
    proc = subprocess.run(
        [sys.executable, "-m", "trygg.tools.cli.main", "provision", "--port", "/dev/ttyUSB-none",
         "--role", "smoke", "--room", "hall", "--config", str(config), "--hub", "127.0.0.1",
         "--set", "sample_ms=50", "--set", "motion_holdoff_s=5"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert ("--set motion_holdoff_s: not a setting of smoke devices (their own: sample_ms)"
            in proc.stderr)
    assert "no such port" not in proc.stderr
