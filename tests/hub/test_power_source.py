"""A mains-powered device's supply voltage is health, not a battery running down: the hub raises
low battery only for a device whose hello says it runs on a battery (or never said what powers
it), through the pure rules engine and through the hub's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trygg.hub.config import ConfigError, Resident, load
from trygg.hub.roles import CELLS, cell, roles
from trygg.hub.rules import (
    DeviceInfo,
    Event,
    RaiseAlarm,
    ResolveAlarm,
    RulesConfig,
    RulesEngine,
    State,
)
from trygg.hub.store import NewFrame, Store
from trygg.tools.sim.home import write_hub_config

DEVICE = "a00000000001"
T0 = 1_750_000_000.0


def hello(power: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "hello", "uptime": 1, "firmware": "1", "role": "motion",
                            "board": "esp32-devkitc", "reset": "power_on", "heartbeat_s": 300}
    if power is not None:
        body["power"] = power
    return body


def heartbeat(mv: int) -> dict[str, Any]:
    return {"type": "heartbeat", "uptime": 5, "battery_mv": mv, "rssi": -60,
            "free_heap": 50000, "outbox": 0, "rejected": 0}


def low_battery_alarms(bodies: list[dict[str, Any]], kept_power: str | None = None,
                       role: str = "motion") -> list[str]:
    """The low-battery notices the engine raises (and resolves: "resolved") for ``bodies``
    from one device of ``role``, one a minute; ``kept_power``: what the devices table says
    powers it (from a hello since pruned)."""
    resident = Resident(id="r1", arc_account="1234")
    engine = RulesEngine(RulesConfig({"r1": resident}, {DEVICE: DeviceInfo(
        DEVICE, role, "hall", "r1", 1, 300.0, T0, power=kept_power, cell=cell(role))}))
    state = State()
    raised = []
    for i, body in enumerate(bodies):
        t = T0 + 60 * i
        ev = Event(i + 1, t, DEVICE, i, "r1", body["type"], None, None, None, body)
        for action in engine.step(state, ev, t)[1]:
            if isinstance(action, RaiseAlarm) and action.kind == "low_battery":
                raised.append("low_battery")
            elif isinstance(action, ResolveAlarm) and action.kind == "low_battery":
                raised.append("resolved")
    return raised


def test_a_mains_powered_device_at_3300_mv_raises_no_low_battery() -> None:
    # 3300 mV: an ESP32 board's regulated supply, below the battery threshold (3400).
    assert low_battery_alarms([hello("mains"), heartbeat(3300), heartbeat(3000)]) == []


@pytest.mark.parametrize("power", ["battery", None], ids=["battery", "not-said"])
def test_a_battery_device_or_one_that_never_said_raises_low_battery(power: str | None) -> None:
    assert low_battery_alarms([hello(power), heartbeat(3300)]) == ["low_battery"]


def test_what_powers_a_device_outlives_its_hello_in_the_devices_table(tmp_path: Path) -> None:
    """The hello that said "mains" may be pruned (retention) long before the hub restarts and
    replays; the devices table keeps what it said, and the rules read it from there."""
    with Store(tmp_path / "hub.db") as store:
        store.add_device(DEVICE, bytes(32), "motion", "hall", "r1")
        store.store_frames([NewFrame(DEVICE, 0, T0, hello("mains"))], {DEVICE: (0, 1)},
                           {DEVICE: "r1"})
        device = store.device(DEVICE)
        assert device is not None
        assert device.power == "mains"
        assert device.public()["power"] == "mains"
    assert low_battery_alarms([heartbeat(3300)], kept_power=device.power) == []
    assert low_battery_alarms([heartbeat(3300)], kept_power=None) == ["low_battery"]


# Battery devices (ESP-NOW): each role's cell has its own limits (hub/rules/resident.py).

def test_two_fresh_aa_cells_at_3000_mv_raise_nothing_and_a_tired_pair_does() -> None:
    # 3000 mV is a fresh 2xAA pair, far below a Li-ion cell's 3400 limit.
    bodies = [hello("battery"), heartbeat(3000), heartbeat(2700), heartbeat(2550),
              heartbeat(2800), heartbeat(3100)]
    assert low_battery_alarms(bodies, role="battery_motion") == ["low_battery", "resolved"]
    assert low_battery_alarms(bodies[:2], role="battery_bed") == []


def test_a_coin_cell_on_its_plateau_raises_nothing_and_past_its_knee_does() -> None:
    assert low_battery_alarms([hello("battery"), heartbeat(2850)], role="button") == []
    assert low_battery_alarms([hello("battery"), heartbeat(2650)],
                              role="button") == ["low_battery"]


@pytest.mark.parametrize("power", ["mains", "battery", None], ids=["mains", "battery", "not-said"])
def test_the_bridge_on_the_hubs_usb_port_never_raises_low_battery(power: str | None) -> None:
    # Whatever its hello says: what it measures is the hub's USB supply.
    assert low_battery_alarms([hello(power), heartbeat(2000)], role="bridge") == []


def test_a_wifi_board_on_a_battery_keeps_the_li_ion_limits() -> None:
    assert low_battery_alarms([hello("battery"), heartbeat(3300)]) == ["low_battery"]
    assert cell("no-such-role") == "li_ion"  # an unknown role: the strictest limits


def test_every_role_names_a_known_cell() -> None:
    assert {described.cell for described in roles().values()} <= set(CELLS)
    assert {cell(r) for r in ("battery_motion", "battery_bed", "button", "bridge")} == {
        "aa_alkaline", "coin_cell", "none"}


def test_a_cells_limits_without_hysteresis_are_refused_naming_the_key(tmp_path: Path) -> None:
    config = write_hub_config(tmp_path, mqtt_port=1883,
                              thresholds={"aa_low_mv": 2900, "aa_ok_mv": 2800})
    with pytest.raises(ConfigError, match=r"thresholds\.aa_ok_mv.*above aa_low_mv"):
        load(config)
