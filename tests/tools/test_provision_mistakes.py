"""The mistakes technicians make when provisioning, each refused with what to do, or undone.

Each test first makes the mistake on a simulated board (the MicroPython unix port on a pty,
flashed as `trygg flash` leaves it) against a real mosquitto and `trygg hub run`, and checks
what the board and the hub are left with: two runs on one board, frames left in the board's
outbox under the old key, a board repurposed by accident, a failed provisioning, a hub that is
not running, a Wi-Fi password that cannot be one.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.polling import wait_for
from trygg.hub import config as hub_config
from trygg.hub.instance_lock import running_pid
from trygg.hub.store import Store
from trygg.tools.device.provision import wpa2_password_problem
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import Mosquitto, free_port
from trygg.tools.sim.pty import PtyBoard

TRYGG = [sys.executable, "-m", "trygg.tools.cli.main"]
WAIT_S = 60.0
pytestmark = pytest.mark.usefixtures("micropython_bin")


@contextlib.contextmanager
def hub_running(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    hub = subprocess.Popen([*TRYGG, "hub", "run", "--config", str(config), "--log-level",
                            "warning"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        database = hub_config.load(config).database
        wait_for(lambda: running_pid(database) or hub.poll() is not None, "the hub to start")
        assert hub.poll() is None
        yield hub
    finally:
        hub.terminate()
        hub.wait(timeout=10)


@contextlib.contextmanager
def home(tmp_path: Path, *, hub: bool = True) -> Iterator[tuple[Path, Mosquitto]]:
    folder = tmp_path / "hub"
    config = write_hub_config(folder, mqtt_port=free_port())
    with start_broker(folder, hub_config.load(config).mqtt.port) as broker:
        if hub:
            with hub_running(config):
                yield config, broker
        else:
            yield config, broker


def provision(port: str, config: Path, broker: Mosquitto, *extra: str, role: str = "motion",
              room: str = "hall") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRYGG, "provision", "--port", port, "--role", role, "--room", room, "--config",
         str(config), "--hub", f"127.0.0.1:{broker.port}", "--heartbeat-s", "5", "--set",
         "resend_s=1", "--json", *extra],
        capture_output=True, text=True, timeout=WAIT_S + 180, stdin=subprocess.DEVNULL)


def devices(config: Path) -> dict[str, Any]:
    with Store(hub_config.load(config).database) as store:
        return {d.device_id: d for d in store.devices()}


def rejections(config: Path, device_id: str) -> dict[str, int]:
    with Store(hub_config.load(config).database) as store:
        return {r["reason"]: r["count"] for r in store.rejections()
                if r["device_id"] == device_id}


def stored(config: Path, device_id: str, name: str) -> int:
    with Store(hub_config.load(config).database) as store:
        return sum(1 for e in store.events(device_id=device_id) if name in (e.type, e.name))


def test_two_runs_on_one_board_one_is_refused_and_the_board_comes_online(
        tmp_path: Path) -> None:
    with PtyBoard(tmp_path / "board") as board, home(tmp_path) as (config, broker):
        args = [*TRYGG, "provision", "--port", board.port, "--role", "motion", "--room", "hall",
                "--config", str(config), "--hub", f"127.0.0.1:{broker.port}", "--json"]
        runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, stdin=subprocess.DEVNULL) for _ in range(2)]
        outcomes = [(run.wait(timeout=WAIT_S + 180), *run.communicate()) for run in runs]
        codes = sorted(code for code, _out, _err in outcomes)
        assert codes == [0, 2], outcomes
        refused = next(err for code, _out, err in outcomes if code == 2)
        assert "another trygg provision or flash" in refused
        done = json.loads(next(out for code, out, _err in outcomes if code == 0))
        # Online by default (--wait-online is the default): board and hub share the key.
        assert done["online"] is True
        assert list(devices(config)) == [done["device_id"]]


def test_provisioning_again_drops_old_key_frames_and_keeps_the_devices_history(
        tmp_path: Path) -> None:
    with PtyBoard(tmp_path / "board") as board, home(tmp_path) as (config, broker):
        first = provision(board.port, config, broker)
        assert first.returncode == 0, first.stderr
        device_id = json.loads(first.stdout)["device_id"]
        wait_for(lambda: devices(config)[device_id].battery_mv is not None, "a heartbeat")
        before = devices(config)[device_id]
        # The board loses its Wi-Fi; what it senses meanwhile waits in its outbox, sealed with
        # the key it has now.
        assert board.control("wifi 0") == "ok"
        time.sleep(1.5)  # the link notices the lost access point within a second
        for _ in range(3):
            assert board.control("pulse pir") == "ok"
            time.sleep(0.3)
        again = provision(board.port, config, broker)
        assert again.returncode == 0, again.stderr
        result = json.loads(again.stdout)
        assert result["online"] is True
        assert result["outbox_dropped"] >= 1
        # The new key works; nothing sealed with the old one reaches the hub, however long the
        # board would have resent it (resend_s=1, doubling).
        assert board.control("pulse pir") == "ok"
        wait_for(lambda: stored(config, device_id, "motion") >= 1, "motion with the new key")
        time.sleep(6)
        assert rejections(config, device_id) == {}
        # The hub kept what it knew of the device: last seen, battery, signal, power.
        after = devices(config)[device_id]
        assert after.key != before.key
        assert (after.zone, after.battery_mv, after.rssi, after.power) == (
            before.zone, before.battery_mv, before.rssi, "mains")
        assert after.last_seen is not None
        assert before.last_seen is not None
        assert after.last_seen >= before.last_seen


def test_another_role_is_refused_without_replace_and_a_failed_run_is_undone(
        tmp_path: Path) -> None:
    with PtyBoard(tmp_path / "board") as board, home(tmp_path) as (config, broker):
        first = provision(board.port, config, broker, room="hallway")
        assert first.returncode == 0, first.stderr
        device_id = json.loads(first.stdout)["device_id"]
        key = devices(config)[device_id].key
        board_config = (board.fs / "trygg.json").read_bytes()

        refused = provision(board.port, config, broker, role="bed", room="livingroom")
        assert refused.returncode == 2
        assert "paired as motion in hallway (zone 1)" in refused.stderr
        assert "--replace" in refused.stderr
        assert (board.fs / "trygg.json").read_bytes() == board_config
        assert (devices(config)[device_id].role, devices(config)[device_id].key) == (
            "motion", key)

        # A run that fails on the board (a setting the device refuses, caught by its
        # self-test) leaves the hub as it was and gives the board its configuration back.
        hellos = stored(config, device_id, "hello")
        failed = provision(board.port, config, broker, "--set", "motion_holdoff_s=99999",
                           room="hallway")
        assert failed.returncode == 2
        assert "self-test failed" in failed.stderr
        assert f"the hub is unchanged: device {device_id} is paired as before" in failed.stderr
        assert "previous configuration back" in failed.stderr
        assert (board.fs / "trygg.json").read_bytes() == board_config
        assert devices(config)[device_id].key == key
        wait_for(lambda: stored(config, device_id, "hello") > hellos, "the board running again")

        replaced = provision(board.port, config, broker, "--replace", role="bed",
                             room="livingroom")
        assert replaced.returncode == 0, replaced.stderr
        assert json.loads(replaced.stdout)["zone"] == 1
        assert (devices(config)[device_id].role, devices(config)[device_id].room) == (
            "bed", "livingroom")


def test_a_hub_that_is_not_running_or_not_reachable_is_refused_before_anything_changes(
        tmp_path: Path) -> None:
    with PtyBoard(tmp_path / "board") as board, home(tmp_path, hub=False) as (config, broker):
        done = provision(board.port, config, broker)
        assert done.returncode == 2
        assert "the hub service is not running" in done.stderr
        assert "--no-wait-online" in done.stderr
        elsewhere = subprocess.run(
            [*TRYGG, "provision", "--port", board.port, "--role", "motion", "--room", "hall",
             "--config", str(config), "--hub", f"127.0.0.1:{free_port()}"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert elsewhere.returncode == 2
        assert "no broker answers there" in elsewhere.stderr
        assert "Traceback" not in done.stderr + elsewhere.stderr
        assert list(board.fs.iterdir()) == []
        assert devices(config) == {}


@pytest.mark.parametrize(("password", "expected"), [
    ("", "the file is empty"),
    ("abcde\n", "is 5 characters"),
    ("x" * 70 + "\n", "is 70 characters"),
    ("pässword\n", "not ASCII"),
    ("tab\tinside\n", "cannot have"),
    (None, "no password given"),
], ids=["empty", "5", "70", "non-ascii", "control", "none"])
def test_a_wifi_password_that_cannot_be_one_is_refused_before_anything(
        tmp_path: Path, password: str | None, expected: str) -> None:
    # /dev/null stands for the board: nothing may be read from or written to it.
    config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
    args = [*TRYGG, "provision", "--port", "/dev/null", "--role", "motion", "--room", "hall",
            "--config", str(config), "--hub", "127.0.0.1:1", "--wifi-ssid", "HOME"]
    if password is not None:
        (tmp_path / "wifi.txt").write_text(password, encoding="utf-8")
        args += ["--wifi-password-file", str(tmp_path / "wifi.txt")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert devices(config) == {}


def test_wpa2_passwords_that_are_valid() -> None:
    for good in ("12345678", "x" * 63, "a b c d e", "0123456789abcdef" * 4, "~!@#$%^&*()"):
        assert wpa2_password_problem(good) is None, good
    assert wpa2_password_problem("0123456789abcdeg" * 4) is not None  # 64, not all hex
