"""Starting the hub the wrong way round or twice, or with a mistyped file: each is said plainly,
once, with what to do, and the alarm centre learns when the hub hears no sensor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from pathlib import Path

import pytest

from support.hub import TRYGG, WAIT_S, alarms, eventually, make_config, start_hub, write_hub_toml
from trygg.hub import config as hub_config
from trygg.hub.instance_lock import running_pid
from trygg.hub.service import HubService
from trygg.tools.sim.home import write_hub_config
from trygg.tools.sim.mosquitto import Mosquitto, free_port
from trygg.tools.sim.processes import end_process


async def test_a_hub_started_before_its_broker_says_so_once_and_tells_the_centre(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = Mosquitto()  # not started: the hub comes first, as after a bad boot order
    cfg = make_config(tmp_path, broker, mqtt={"reconnect_s": 0.1, "broker_lost_alarm_s": 1.0})
    service = HubService(cfg)
    caplog.set_level(logging.WARNING, logger="trygg.hub")
    task = asyncio.create_task(service.run())
    try:
        # Told the centre: the hub hears no sensor (one notice per resident), within the
        # configured time, while link supervision would still say the hub is fine.
        await eventually(lambda: [a for a in alarms(cfg) if a["kind"] == "sensors_unreachable"],
                         WAIT_S, "the sensors-unreachable notice")
        said = [r.getMessage() for r in caplog.records if "nothing answers" in r.getMessage()]
        assert len(said) == 1, said  # ~10 attempts so far, one line
        assert "is mosquitto running?" in said[0]
        assert "sudo systemctl start mosquitto" in said[0]
        with broker:
            async with asyncio.timeout(WAIT_S):
                await service.connected.wait()
            await eventually(lambda: all(a["state"] == "resolved" for a in alarms(cfg)
                                         if a["kind"] == "sensors_unreachable"),
                             WAIT_S, "the notice resolved once the broker is there")
            assert any("connected to the broker" in r.getMessage() and "again after" in
                       r.getMessage() for r in caplog.records)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        broker.close()


def test_a_second_hub_on_the_same_database_is_refused(tmp_path: Path) -> None:
    config = write_hub_toml(tmp_path, None)
    first = start_hub(config)
    try:
        database = hub_config.load(config).database
        deadline = time.monotonic() + WAIT_S
        # No event to await: the other process takes its lock when it has started.
        while running_pid(database) != first.pid and first.poll() is None:
            assert time.monotonic() < deadline, "the first hub did not start"
            time.sleep(0.05)
        assert first.poll() is None, config.with_name("hub.log").read_text()
        second = subprocess.run([*TRYGG, "hub", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        assert second.returncode == 2
        assert f"another `trygg hub run` (pid {first.pid}) is using" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first one runs on, undisturbed
    finally:
        end_process(first)
    assert running_pid(hub_config.load(config).database) is None


def test_a_mistyped_password_file_is_refused_instead_of_made_up(tmp_path: Path) -> None:
    config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
    setup = subprocess.run([*TRYGG, "hub", "broker", "--config", str(config)],
                           capture_output=True, text=True, timeout=60)
    assert setup.returncode == 0, setup.stderr  # the first setup writes the secret
    secret = tmp_path / "hub" / "hub-mqtt.secret"
    assert secret.exists()
    config.write_text(config.read_text().replace("hub-mqtt.secret", "hub-mqtt.secert"))
    for command in (["hub", "run"], ["hub", "broker"],
                    ["hub", "pair", "a1b2c3d4e5f6", "--role", "motion", "--room", "hall",
                     "--new-key-file", str(tmp_path / "k")]):
        done = subprocess.run([*TRYGG, *command, "--config", str(config)],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 2, (command, done.stderr)
        assert "hub-mqtt.secert does not exist" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "hub" / "hub-mqtt.secert").exists()
