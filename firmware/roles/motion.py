"""Motion role: PIR on a GPIO interrupt, plus an optional entrance door contact.

A motion event marks the *start* of activity: after one, further PIR triggers
are only counted until ``motion_holdoff_s`` has passed, so a busy kitchen does
not flood the hub; the event's value is the number of triggers it stands for,
and heartbeats carry the triggers since the previous heartbeat. With
``door_contact`` the reed switch reports door_open / door_close (alarm class:
never dropped), so the hub knows when the resident leaves and comes home.
"""

import asyncio

from micropython import const

from hw.hal import IRQ_FALLING, IRQ_RISING

from .base import Role

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# A reed contact bounces for a few ms when the door moves; 50 ms settles it.
_DOOR_DEBOUNCE_MS = const(50)


class MotionRole(Role):
    NAME = "motion"
    REPORT = ("motion",)  # door_open / door_close are alarm class: never dropped
    SIGNALS = ("pir", "door")
    CONFIG = {
        # One motion event per minute per room is enough for activity and inactivity rules; a
        # busy kitchen would otherwise send one every few seconds.
        "motion_holdoff_s": 60,
        "door_contact": False,  # a motion unit by the entrance has a reed contact
    }

    def setup(self) -> None:
        self.triggers = 0  # since the last heartbeat
        self._pending = 0  # since the last motion event
        self._last_event_ms = -1
        self._flag = self.hal.flag()
        self.pir = self.hal.pin_in("pir")
        self.pir.irq(self._on_pir, IRQ_RISING)
        self.door: Any = None
        self._door_flag = self.hal.flag()
        if self.cfg["door_contact"]:
            self.door = self.hal.pin_in("door", True)
            self._door_open = self.door.value()
            self.door.irq(self._on_door, IRQ_RISING | IRQ_FALLING)

    def _on_pir(self, pin: "Any") -> None:
        # Soft-IRQ context on the ESP32: count and wake the task, nothing more.
        self.triggers += 1
        self._pending += 1
        self._flag.set()

    def _on_door(self, pin: "Any") -> None:
        self._door_flag.set()

    async def run(self) -> None:
        self._door_task = asyncio.create_task(self._watch_door())
        while True:
            await self._flag.wait()
            now = self.device.clock.uptime_ms()
            holdoff = self.cfg["motion_holdoff_s"] * 1000
            if self._last_event_ms < 0 or now - self._last_event_ms >= holdoff:
                self._last_event_ms = now
                count = self._pending
                self._pending = 0
                self.device.emit("motion", count)

    async def _watch_door(self) -> None:
        if self.door is None:
            return
        while True:
            await self._door_flag.wait()
            await asyncio.sleep_ms(_DOOR_DEBOUNCE_MS)
            level = self.door.value()
            if level != self._door_open:
                self._door_open = level
                self.device.emit("door_open" if level else "door_close")

    def report(self, msg: "dict[str, Any]") -> None:
        msg["triggers"] = min(self.triggers, 65535)
        self.triggers = 0


ROLE = MotionRole
