"""Battery bed role: a pressure mat behind a comparator that wakes the ESP32 (firmware/espnow.py).

An ADC cannot wake the chip, and sampling it on a timer would cost a wake every few
seconds, so the mat's divider feeds a nano-power comparator with hysteresis (hw/boards/),
whose output ``bed_occupied`` (1 = someone lies on the mat) is the ext0 wake pin. The
device sleeps until the output differs from what it last reported; a change that still
holds ``bed_settle_ms`` later is ``bed_in`` or ``bed_out`` (alarm class: never dropped,
as the mains bed role's); one that does not (someone sitting down on the edge for a moment)
is nothing. Where the threshold lies is set on the comparator (its trimmer), not by the
hub: the mains bed role's levels and calibration do not apply.
"""

import asyncio

from ..espnow import EspNowLink, needs_bridge
from .base import Role

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class BatteryBedRole(Role):
    NAME = "battery_bed"
    link = EspNowLink
    conflict = staticmethod(needs_bridge)
    SIGNALS = ("bed_occupied",)
    CONFIG = {
        # Turning over lifts the mat's load for a moment; 2 s of CPU per change is a few
        # changes a night (trygg bench energy).
        "bed_settle_ms": (2000, 0, 30000),
        # ESP-NOW (firmware/espnow.py): the Wi-Fi channel the bridge listens on (every device
        # of a home on the same one; 1, 6 and 11 do not overlap).
        "espnow_channel": (1, 1, 13),
        # The bridge's MAC (12 hex digits; trygg hub bridge prints it): the only peer. Until
        # provisioning sets it, espnow.NO_BRIDGE (a literal here: the hub reads CONFIG).
        "bridge_mac": "000000000000",
        # How long to wait for the hub's ack after the last frame: the bridge's serial line,
        # the hub's group commit (one fsync, ~10-30 ms on an SD card) and back, with room to
        # spare; every millisecond is radio receive current (trygg bench energy).
        "espnow_ack_ms": (300, 20, 5000),
        # Send-and-wait rounds per wake (a command's result takes one more): bounds a wake.
        "espnow_rounds": (3, 1, 10),
        # Unacked frames left after a wake (bridge out of reach, hub away): try again after
        # this, doubling up to the heartbeat, rather than only at the next event or heartbeat.
        "espnow_retry_s": (30, 1, 86400),
    }

    def setup(self) -> None:
        self.mat = self.hal.pin_in("bed_occupied")
        self.occupied: Any = None  # as last reported; None: unknown (power-up)

    def resume(self, state: "Any", wake: "str | None") -> None:
        if state in (0, 1):
            self.occupied = state

    async def awake(self) -> None:
        level = self.mat.value()
        if level == self.occupied:
            return
        await asyncio.sleep_ms(self.cfg["bed_settle_ms"])
        if self.mat.value() != level:
            print("battery bed: change did not hold for bed_settle_ms")
            return
        if self.occupied is not None or level:  # at power-up an empty bed is no bed_out
            self.device.emit("bed_in" if level else "bed_out")
        self.occupied = level

    def sleep_plan(self) -> "tuple[int, str | None, int]":
        return 0, "bed_occupied", 0 if self.occupied else 1

    def rtc_state(self) -> "Any":
        return self.occupied


ROLE = BatteryBedRole
