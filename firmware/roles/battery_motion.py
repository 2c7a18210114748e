"""Battery motion role: a PIR that wakes the ESP32 from deep sleep (firmware/espnow.py).

The PIR's output is the ext0 wake pin (an RTC GPIO, high on motion). A wake by it is a
``motion`` event (routine class, as the mains motion role's), sent through the bridge at
once; then the device sleeps ``motion_holdoff_s`` on its timer alone, with the PIR not
armed, so that a busy room costs one wake per hold-off rather than one per trigger (the
hold-off is the mains role's rule, here also the battery's budget: trygg bench energy).
Heartbeats carry the motion events since the previous heartbeat in ``triggers``.
"""

from ..espnow import EspNowLink, needs_bridge
from .base import Role

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class BatteryMotionRole(Role):
    NAME = "battery_motion"
    link = EspNowLink
    conflict = staticmethod(needs_bridge)
    REPORT = ("motion",)
    SIGNALS = ("pir",)
    CONFIG = {
        # As the mains motion role: one event a minute per room serves the activity rules,
        # and each hold-off is a wake saved (trygg bench energy: 200 events a day).
        "motion_holdoff_s": 60,
    }

    def setup(self) -> None:
        self.pir = self.hal.pin_in("pir")
        self.triggers = 0
        self._holdoff = False
        self._wake: Any = None

    def resume(self, state: "Any", wake: "str | None") -> None:
        if isinstance(state, list) and len(state) == 2:
            self.triggers = state[0]
            self._holdoff = bool(state[1])
        self._wake = wake

    async def awake(self) -> None:
        # A pin wake is motion; so is a PIR already high at power-up (someone is there).
        if self._wake == "pin" or (self._wake is None and self.pir.value()):
            self.triggers += 1
            self.device.emit("motion", 1)
            self._holdoff = self.cfg["motion_holdoff_s"] > 0
        elif self._wake == "timer":
            self._holdoff = False  # the hold-off (or a heartbeat) is over: arm the PIR

    def report(self, msg: "dict[str, Any]") -> None:
        msg["triggers"] = min(self.triggers, 65535)
        self.triggers = 0

    def sleep_plan(self) -> "tuple[int, str | None, int]":
        if self._holdoff:
            return self.cfg["motion_holdoff_s"] * 1000, None, 1
        return 0, "pir", 1

    def rtc_state(self) -> "Any":
        return [self.triggers, 1 if self._holdoff else 0]


ROLE = BatteryMotionRole
