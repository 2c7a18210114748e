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
