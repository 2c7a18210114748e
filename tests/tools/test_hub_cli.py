"""`trygg hub command` refuses, before queueing it, a command the device's role would refuse:
another role's command or another role's setting (the roles' declarations, trygg.hub.roles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trygg.hub import config as hub_config
from trygg.tools.cli import main as cli
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port

DEVICE = "a1b2c3d4e5f6"


@pytest.mark.parametrize(("body", "error"), [
    ('{"command": "calibrate", "reference": "empty"}',
     "calibrate: a command of bed devices, not of motion devices"),
    ('{"command": "set_config", "config": {"motion_holdoff_s": 5, "bed_exit_s": 3}}',
     "bed_exit_s: not a setting of motion devices (their own: motion_holdoff_s, door_contact)"),
])
def test_hub_command_refuses_what_the_devices_role_would_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, error: str) -> None:
    folder = tmp_path / "hub"
    config = str(write_hub_config(folder, mqtt_port=free_port()))
    with start_broker(folder, hub_config.load(config).mqtt.port):  # pairing tells the broker
        assert cli.main(["hub", "pair", "--config", config, DEVICE, "--role", "motion",
                         "--room", "hall", "--new-key-file", str(tmp_path / "key")]) == 0
    capsys.readouterr()
    assert cli.main(["hub", "command", "--config", config, DEVICE, body]) == 2
    assert capsys.readouterr().err.strip() == f"trygg hub: command for {DEVICE}: {error}"
    # Queued (no hub runs here to send it: --wait 0 does not wait for the device's answer).
    assert cli.main(["hub", "command", "--config", config, "--wait", "0", DEVICE,
                     '{"command": "set_config", "config": {"motion_holdoff_s": 5}}']) == 0
