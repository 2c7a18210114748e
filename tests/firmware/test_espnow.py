"""Battery devices over ESP-NOW through the bridge, end to end on real components: the
firmware on the MicroPython unix port (battery boards and the bridge), the bridge on a
pseudo-terminal read by `trygg hub run` with pyserial, a real mosquitto. The unix port has
no radio: the air is the simulated ESP-NOW medium (tools/sim/espnow_medium.py), datagrams on
loopback with the loss, delay and range a test sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trygg.tools.sim.espnow_home import BatteryHome, battery_home
from trygg.tools.sim.espnow_medium import EspNowMedium

pytestmark = pytest.mark.micropython


@pytest.fixture
def medium() -> Iterator[EspNowMedium]:
    with EspNowMedium() as m:
        yield m


@pytest.fixture
def home(tmp_path: Path, micropython_bin: object, medium: EspNowMedium) -> Iterator[BatteryHome]:
    yield from battery_home(tmp_path, medium)


def test_motion_wakes_the_board_and_is_stored_and_acked_through_the_bridge(
        home: BatteryHome) -> None:
    board = home.add("battery_motion", heartbeat_s=60, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello")
    board.wait_asleep(1)
    board.control("pulse pir")
    stored = home.wait_event(device_id, "motion")
    board.wait_asleep(2)
    assert stored[0]["value"] == 1
    # Acked: the wake ended with an empty outbox.
    assert "outbox 0" in [line for line in board.lines if line.startswith("wake:")][-1]
