"""A mains-powered device's supply voltage is health, not a battery running down: the hub raises
low battery only for a device whose hello says it runs on a battery (or never said what powers
it), through the pure rules engine and through the hub's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trygg.hub.config import Resident
from trygg.hub.rules import DeviceInfo, Event, RaiseAlarm, RulesConfig, RulesEngine, State
from trygg.hub.store import NewFrame, Store

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


def low_battery_alarms(bodies: list[dict[str, Any]], kept_power: str | None = None
                       ) -> list[str]:
    """The low-battery alarms the engine raises for ``bodies`` from one device, one a minute;
    ``kept_power``: what the devices table says powers it (from a hello since pruned)."""
    resident = Resident(id="r1", arc_account="1234")
    engine = RulesEngine(RulesConfig({"r1": resident}, {DEVICE: DeviceInfo(
        DEVICE, "motion", "hall", "r1", 1, 300.0, T0, power=kept_power)}))
    state = State()
    raised = []
    for i, body in enumerate(bodies):
        t = T0 + 60 * i
        ev = Event(i + 1, t, DEVICE, i, "r1", body["type"], None, None, None, body)
        raised += [a.kind for a in engine.step(state, ev, t)[1] if isinstance(a, RaiseAlarm)]
    return [kind for kind in raised if kind == "low_battery"]


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
