"""`trygg hub doctor` names what is wrong with an installation, one line per check with what to
do, and passes a working one; `check-config` says when alarms would not be forwarded; a
centre whose name does not resolve is called that, not "refused"."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trygg.hub import broker
from trygg.hub import config as hub_config
from trygg.hub.arc import load_arc_config, run_test_alarm
from trygg.hub.instance_lock import running_pid
from trygg.hub.roles import roles
from trygg.tools.cli.doctor import diagnose
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.processes import end_process

TRYGG = [sys.executable, "-m", "trygg.tools.cli.main"]
DEVICE = "a1b2c3d4e5f6"


def trygg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRYGG, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def unresolvable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """A test double for the resolver, for one name: a real lookup would go to the machine's
    DNS server, which tests must not reach (they talk to 127.0.0.0/8 only)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_doctor_on_a_hub_never_set_up_says_what_to_do_for_each_failure(tmp_path: Path) -> None:
    config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
    done = trygg("hub", "doctor", "--config", str(config))
    assert done.returncode == 1
    out = done.stdout
    assert re.search(r"^ok   configuration: .* is valid", out, re.M)
    for check, why, fix in (
            ("hub's broker password", "does not exist", "trygg hub broker --config"),
            ("hub service", "no `trygg hub run`", "sudo systemctl start trygg-hub"),
            ("broker reachable", "Connection refused", "is mosquitto running?"),
            ("alarm centre", "not forwarded", "add [arc]"),
            ("devices", "none paired", "trygg provision")):
        line = re.search(rf"^FAIL {re.escape(check)}: .*{re.escape(why)}.*\n     -> .*"
                         rf"{re.escape(fix)}", out, re.M)
        assert line, (check, out)
    checks = json.loads(trygg("hub", "doctor", "--config", str(config), "--json").stdout)
    assert {c["name"]: c["ok"] for c in checks}["configuration"] is True
    assert all(c["fix"] for c in checks if not c["ok"])


def test_doctor_passes_a_working_hub_and_names_a_centre_that_does_not_resolve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as centre:
        config = write_hub_config(tmp_path / "hub", mqtt_port=free_port(), arc={
            "account": "9999", "receivers": [
                {"name": "main", "host": "127.0.0.1", "port": centre.getsockname()[1]},
                {"name": "spare", "host": "centre.example", "port": 9000}]})
        cfg = hub_config.load(config)
        with start_broker(tmp_path / "hub", cfg.mqtt.port):
            hub = subprocess.Popen([*TRYGG, "hub", "run", "--config", str(config)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 30
                while running_pid(cfg.database) is None:  # no event: another process
                    assert time.monotonic() < deadline
                    assert hub.poll() is None
                    time.sleep(0.05)
                key_file = tmp_path / "a.key"
                assert trygg("hub", "pair", "--config", str(config), DEVICE, "--role",
                             "motion", "--room", "hall", "--new-key-file",
                             str(key_file)).returncode == 0
                key = bytes.fromhex(key_file.read_text())
                asyncio.run(hello(key, cfg, config))
                unresolvable(monkeypatch, "centre.example")
                checks = {c.name: c for c in diagnose(cfg)}
            finally:
                end_process(hub)
    failed = {name: c.detail for name, c in checks.items() if not c.ok}
    assert failed.keys() == {"alarm centre spare"}, failed
    assert "does not resolve" in failed["alarm centre spare"]
    assert checks["device logins"].detail.startswith("all 1 paired device(s)")
    device = checks[f"device {DEVICE} (motion, hall, zone 1)"]
    assert device.detail.startswith("online, heard")
    assert "heartbeat 30 s" in device.detail


async def hello(key: bytes, cfg: hub_config.HubConfig, config: Path) -> None:
    async with SimulatedDevice(DEVICE, key, cfg.mqtt.host, cfg.mqtt.port,
                               password=broker.device_password(key),
                               client_id=broker.device_client_id(DEVICE)) as dev:
        seq = await dev.send({"type": "hello", "firmware": "1", "role": "motion",
                              "board": "esp32-devkitc", "reset": "power_on",
                              "heartbeat_s": 30, "power": "mains"})
        async with asyncio.timeout(30):
            await dev.wait_acked({seq})
        # `hub command` shows the device's answer, not only "queued".
        done = await asyncio.to_thread(trygg, "hub", "command", "--config", str(config),
                                       DEVICE, '{"command": "identify", "seconds": 1}')
        assert done.returncode == 0, done.stderr
        assert re.search(r"^command \d+: ok$", done.stdout, re.M), done.stdout


def test_check_config_says_alarms_are_not_forwarded_without_arc(tmp_path: Path) -> None:
    config = write_hub_config(tmp_path / "hub", mqtt_port=free_port())
    done = trygg("hub", "check-config", "--config", str(config))
    assert done.returncode == 0
    assert "no [arc]" in done.stdout
    assert "NOT forwarded" in done.stderr
    assert "trygg hub doctor" in done.stdout


def test_a_centre_name_that_does_not_resolve_is_said_so_not_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    unresolvable(monkeypatch, "centre.example")
    arc = load_arc_config({"account": "9999", "receivers": [
        {"name": "main", "host": "centre.example", "port": 9000}]}, where="test")
    [result] = asyncio.run(run_test_alarm(arc))
    assert not result.ok
    assert "REFUSED" not in result.detail
    assert "the receiver's name 'centre.example' does not resolve" in result.detail


def test_the_bed_walk_hint_names_the_firmwares_time_in_bed() -> None:
    bed = roles()["bed"]
    assert f"for {bed.device().settings['bed_enter_s']} s" in bed.walk_hint
