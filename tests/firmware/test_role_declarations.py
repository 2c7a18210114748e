"""One declaration per role, read everywhere: what a role's firmware module declares
(firmware/roles/base.py) is what MicroPython runs and what the hub and the tools read
(trygg.hub.roles); the two halves of every role agree with each other, with the wire
(protocol.messages) and with the board files; the device holds a role to its own settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support import mpy
from support.simboards import MakeBoard, command
from trygg.hub import roles as hub_roles
from trygg.hub.roles import RoleError, device_facts, foreign_settings, roles
from trygg.protocol import messages
from trygg.tools.sim.board import HubSide, board_config

pytestmark = pytest.mark.micropython

_DECLARED = """
import json
from hw.boards import BOARDS, load
out = {}
for name in %r:
    role = __import__("firmware.roles." + name, None, None, ("ROLE",)).ROLE
    out[name] = {"NAME": role.NAME, "URGENT": role.URGENT, "REPORT": role.REPORT,
                 "SIGNALS": role.SIGNALS, "CONFIG": role.CONFIG, "COMMANDS": role.COMMANDS,
                 "link": role.link.__name__ if hasattr(role, "link") else None,
                 "link_config": getattr(getattr(role, "link", None), "CONFIG", {}),
                 "wired": [b for b in BOARDS
                           if all(s in load(b).PINS.get(name, {}) for s in role.SIGNALS)]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def on_device(micropython_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every role's declarations as MicroPython sees them, and the boards wiring all its
    signals."""
    # Every role's module in one interpreter, from source: more than one device's heap.
    result = mpy.run_micropython(micropython_bin, _DECLARED % (messages.ROLES,),
                                 workdir=tmp_path_factory.mktemp("declared"), heapsize="1m")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", messages.ROLES)
def test_hub_reads_the_declarations_micropython_runs(on_device: Any, name: str) -> None:
    seen = on_device[name]
    read = device_facts(name)
    assert seen["NAME"] == name
    assert (list(read.urgent), list(read.report), list(read.signals), list(read.commands)) == (
        seen["URGENT"], seen["REPORT"], seen["SIGNALS"], seen["COMMANDS"])
    # The role's settings with its link's (firmware/config.py merges them the same way).
    config = {**seen["link_config"], **seen["CONFIG"]}
    assert dict(read.settings) == {
        key: spec[0] if isinstance(spec, list) else spec for key, spec in config.items()}
    assert read.local_settings == {k for k, v in config.items() if isinstance(v, (list, str))}
    assert read.link == hub_roles.link_of(seen["link"])


def test_the_espnow_settings_are_declared_once_by_the_link_and_every_battery_role_has_them(
        on_device: Any, run_micropython: mpy.RunMicroPython) -> None:
    espnow = {name: seen for name, seen in on_device.items() if seen["link"] == "EspNowLink"}
    assert set(espnow) == {"battery_motion", "battery_bed", "button"}
    link = next(iter(espnow.values()))["link_config"]
    assert {"espnow_channel", "bridge_mac", "espnow_ack_ms", "espnow_rounds", "espnow_retry_s",
            "espnow_service_s"} == set(link)
    for name, seen in espnow.items():
        assert not set(seen["CONFIG"]) & set(link), name  # not repeated by the role
        assert set(link) <= set(device_facts(name).settings)
        # The link's defaults in the device's configuration (bridge_mac: its default is refused,
        # needs_bridge, so it is provisioned).
        cfg = parse_on_device(run_micropython, _battery_config(name))
        assert {key: cfg[key] for key in link} == {
            key: spec[0] if isinstance(spec, list) else spec for key, spec in link.items()
        } | {"bridge_mac": "24a1b2c3d4e5"}
    # The bridge is on the serial link, not EspNowLink (whose code a bridge does not load):
    # it declares the channel itself, with the bounds its devices' declaration has.
    assert on_device["bridge"]["CONFIG"]["espnow_channel"] == link["espnow_channel"]


def _battery_config(role: str, **settings: Any) -> dict[str, Any]:
    cfg = board_config(role, 1883, bridge_mac="24a1b2c3d4e5", **settings)
    for name in ("wifi_ssid", "wifi_password", "broker_host", "broker_port"):
        cfg.pop(name)
    return cfg


def test_config_holds_a_battery_role_to_its_links_bounds_and_refuses_them_elsewhere(
        run_micropython: mpy.RunMicroPython) -> None:
    assert parse_on_device(run_micropython, _battery_config("button", espnow_service_s=0))[
        "espnow_service_s"] == 0
    assert parse_on_device(run_micropython, _battery_config("button", espnow_service_s=61)) == (
        "trygg.json: espnow_service_s: 61 is not an integer in 0..60")
    assert parse_on_device(run_micropython, board_config("motion", 1883, espnow_rounds=2)) == (
        "trygg.json: espnow_rounds: unknown key (see firmware/config.py and "
        "firmware/roles/motion.py for the keys)")


def test_a_role_that_repeats_a_setting_of_its_link_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = hub_roles.firmware_role_path("button").read_text()
    broken = tmp_path / "button.py"
    broken.write_text(source.replace("    CONFIG = {\n",
                                     '    CONFIG = {\n        "espnow_rounds": (3, 1, 10),\n', 1))
    assert broken.read_text() != source
    monkeypatch.setattr(hub_roles, "firmware_role_path", lambda name: broken)
    with pytest.raises(RoleError, match=r"firmware/roles/button.py: ButtonRole.CONFIG: "
                       r"espnow_rounds: declared by its link \(firmware/espnow.py\)"):
        device_facts.__wrapped__("button")


@pytest.mark.parametrize("name", messages.ROLES)
def test_every_role_is_whole_and_agrees_with_the_wire_and_the_board_files(
        on_device: Any, name: str) -> None:
    described, facts = roles()[name], device_facts(name)
    assert described.name == name
    assert on_device[name]["wired"] == ["esp32-devkitc"]  # every board wires every signal
    events = set(messages.EVENTS)
    assert set(facts.urgent) | set(facts.report) | set(described.pass_events) <= events
    assert not set(facts.urgent) & set(facts.report)
    assert set(facts.commands) <= set(messages.COMMANDS)
    for stimulus in described.stimuli:
        assert stimulus.event is None or stimulus.event in events, stimulus
        words = stimulus.command.split()
        if words[0] in ("pin", "pulse", "adc"):
            assert words[1] in facts.signals, stimulus
    assert set(described.bench_stimuli) <= set(described.stimuli)
    assert all(s.event is not None for s in described.bench_stimuli[::2])
    assert set(described.quick_settings) <= set(facts.settings)
    # Settings the hub may change are on the wire, and their defaults pass its own check.
    hub_settable = {k: v for k, v in facts.settings.items() if k not in facts.local_settings}
    assert set(hub_settable) <= set(messages.CONFIG_KEYS)
    if hub_settable:
        messages.to_wire({"type": "command", "command_id": 0, "command": "set_config",
                          "config": hub_settable})


def test_a_declaration_that_is_not_a_plain_literal_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The hub reads declarations without running the module: one it cannot read must stop
    # it with the file and the attribute, not be read as empty.
    source = hub_roles.firmware_role_path("smoke").read_text()
    broken = tmp_path / "smoke.py"
    broken.write_text(source.replace('URGENT = ("smoke_alarm",', 'URGENT = tuple(("smoke_alarm",'
                                     ).replace('"smoke_fault")', '"smoke_fault"))', 1))
    assert broken.read_text() != source
    monkeypatch.setattr(hub_roles, "firmware_role_path", lambda name: broken)
    with pytest.raises(RoleError, match=r"firmware/roles/smoke.py:\d+: SmokeRole.URGENT must be"):
        device_facts.__wrapped__("smoke")


_PARSE = """
import json
from firmware import config
cfg = %s
try:
    print(json.dumps(config.parse(cfg)))
except config.ConfigError as e:
    print(json.dumps(str(e)))
"""


def parse_on_device(run_micropython: mpy.RunMicroPython, cfg: dict[str, Any],
                    patch: str = "") -> Any:
    result = run_micropython(patch + _PARSE % (json.dumps(cfg).replace("false", "False")
                                               .replace("true", "True"),))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_config_takes_the_roles_own_defaults_and_no_other_roles_settings(
        run_micropython: mpy.RunMicroPython) -> None:
    cfg = parse_on_device(run_micropython, board_config("bed", 1883, bed_exit_s=7))
    assert (cfg["bed_enter_level"], cfg["bed_exit_s"], cfg["sample_ms"]) == (24000, 7, 200)
    assert not set(cfg) & foreign_settings("bed")  # no motion hold-off, no dose window...
    assert cfg["heartbeat_s"] == 300  # settings every device has


@pytest.mark.parametrize(("change", "error"), [
    ({"motion_holdoff_s": 5},
     "trygg.json: motion_holdoff_s: not a setting of a bed device (its own: bed_enter_level, "),
    ({"sample_ms": 5}, "trygg.json: sample_ms: 5 is not an integer in 10..10000"),
    ({"bed_exit_level": 30000}, "trygg.json: bed_exit_level: must be below bed_enter_level"),
])
def test_config_holds_a_role_to_its_declared_settings(
        run_micropython: mpy.RunMicroPython, change: dict[str, Any], error: str) -> None:
    assert parse_on_device(run_micropython, board_config("bed", 1883, **change)).startswith(error)


def test_config_refuses_a_board_that_does_not_wire_the_roles_signals(
        run_micropython: mpy.RunMicroPython) -> None:
    unwired = ("from hw import boards\n"
               "boards.pins_for = lambda board, role: {'smoke_alarm': 25, 'smoke_test': 33}\n")
    error = parse_on_device(run_micropython, board_config("smoke", 1883), unwired)
    assert error == ("trygg.json: board: board esp32-devkitc does not wire signal 'smoke_line' "
                     "of role smoke (add it to its board file in hw/boards/)")


def test_device_refuses_another_roles_setting_from_the_hub(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion")
    result = command(hub, board, "set_config", config={"stock_low": 1})
    assert (result.msg["status"], result.msg["detail"]) == (
        "rejected", "stock_low: not a motion setting")  # detail: <= 32 bytes
    assert command(hub, board, "set_config", config={"motion_holdoff_s": 5}).msg["status"] == "ok"
