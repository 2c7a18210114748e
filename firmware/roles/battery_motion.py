"""Battery motion role: a PIR that wakes the ESP32 from deep sleep (firmware/espnow.py).

The PIR's output is the ext0 wake pin (an RTC GPIO, high on motion). A wake by it is a
``motion`` event (routine class, as the mains motion role's), sent through the bridge at
once; then the device sleeps ``motion_holdoff_s`` on its timer alone, with the PIR not
armed, so that a busy room costs one wake per hold-off rather than one per trigger (the
hold-off is the mains role's rule, here also the battery's budget: trygg bench energy).
Heartbeats carry the motion events since the previous heartbeat in ``triggers``.

While the board is awake (the exchange with the bridge, ~0.3 s) ext0 watches nothing: the
PIR's rising edges are taken by its interrupt instead. An edge outside a hold-off is motion,
reported in the same wake (wake.py asks ``noticed()`` after the exchange and sends again);
one inside the hold-off this wake opened is counted and reported when it ends, with the
count as its value (the mains role's rule: movement in a hold-off is delayed, never
hidden). An edge in the last moments before the sleep is kept in RTC memory and reported at
the next wake, which comes at once when no hold-off is running.
"""

from hw.hal import IRQ_RISING

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
        self._pending = 0  # edges seen while awake, not yet reported (kept through sleep)
        self._edges = 0  # edges since noticed() last looked (set from the interrupt)
        self.pir.irq(self._on_pir, IRQ_RISING)

    def _on_pir(self, pin: "Any") -> None:
        # Soft-IRQ context on the ESP32: count, nothing more (noticed() reports).
        self._edges += 1

    def resume(self, state: "Any", wake: "str | None") -> None:
        if isinstance(state, list) and len(state) in (2, 3):
            self.triggers = state[0]
            self._holdoff = bool(state[1])
            if len(state) == 3 and isinstance(state[2], int):
                self._pending = state[2]
        self._wake = wake

    async def awake(self) -> None:
        # A pin wake is motion; so is a PIR already high at power-up (someone is there).
        if self._wake == "pin" or (self._wake is None and self.pir.value()):
            self._motion(1)
        elif self._wake == "timer":
            self._holdoff = False  # the hold-off (or a heartbeat) is over: arm the PIR
            if self._pending:  # movement seen while awake in the hold-off, or just before
                self._motion(self._pending)

    def _motion(self, count: int) -> None:
        self.triggers += count
        self._pending = 0
        self.device.emit("motion", count)
        self._holdoff = self.cfg["motion_holdoff_s"] > 0

    def noticed(self) -> bool:
        """After the exchange (wake.py): True when an edge seen while awake was reported now
        (outside a hold-off), so that it is sent in this wake."""
        self._pending += self._edges
        self._edges = 0
        if not self._pending or self._holdoff:
            return False
        self._motion(self._pending)
        return True

    def report(self, msg: "dict[str, Any]") -> None:
        msg["triggers"] = min(self.triggers, 65535)
        self.triggers = 0

    def sleep_plan(self) -> "tuple[int, str | None, int]":
        self._pending += self._edges  # an edge after the last noticed(): not lost either
        self._edges = 0
        if self._holdoff:
            return self.cfg["motion_holdoff_s"] * 1000, None, 1
        if self._pending:  # too late for this wake's exchange: the next wake, at once
            return 1, None, 1
        # A PIR still high (its pulse lasts seconds) wakes the chip at once through ext0.
        return 0, "pir", 1

    def rtc_state(self) -> "Any":
        self._pending += self._edges
        self._edges = 0
        return [self.triggers, 1 if self._holdoff else 0, self._pending]


ROLE = BatteryMotionRole
