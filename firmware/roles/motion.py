"""Motion role: PIR on a GPIO interrupt, plus an optional entrance door contact.

The first PIR trigger after a quiet spell is reported at once (a motion event, value 1), and
opens a hold-off of ``motion_holdoff_s``. Triggers inside it are counted, not sent; when it
ends, the count -- if any -- is reported (value = the triggers it stands for) and a new hold-off
begins; without triggers the unit is quiet again. So a busy kitchen sends at most one event a
hold-off, and movement seen during a hold-off is never hidden: the walk out of a room reaches
the hub at most one hold-off late (the hub's fall rules count stillness from the last report).
Hold-offs end on the role's once-a-second ``tick``.

With ``door_contact`` the reed switch reports door_open / door_close (alarm class: never
dropped). Motion counted before the door moved is reported just ahead of the door event, so
every later motion event of this unit stands for movement after it: the hub tells "she left"
from "she closed the door and stayed" by the unit's own sequence numbers.

Heartbeats carry the triggers since the previous heartbeat (``triggers``).

hub/replay/firmware_model.py restates this for recordings of raw sensor observations; a test
runs both on the same stimuli (tests/hub/test_replay_firmware_model.py).
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
_IDLE = const(-1)


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
        self._holdoff_end = _IDLE  # uptime ms the current hold-off ends; _IDLE: none
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

    def _report(self, now: int) -> None:
        count = self._pending
        self._pending = 0
        holdoff = self.cfg["motion_holdoff_s"]
        self._holdoff_end = now + holdoff * 1000 if holdoff else _IDLE  # 0: every trigger
        self.device.emit("motion", count)

    async def run(self) -> None:
        self._door_task = asyncio.create_task(self._watch_door())
        while True:
            await self._flag.wait()
            if self._holdoff_end == _IDLE and self._pending:
                self._report(self.device.clock.uptime_ms())

    def tick(self) -> None:
        end = self._holdoff_end
        if end == _IDLE:
            return
        now = self.device.clock.uptime_ms()
        if now - end < 0:
            return
        if self._pending:
            self._report(now)  # movement seen during the hold-off, and a new one
        else:
            self._holdoff_end = _IDLE

    async def _watch_door(self) -> None:
        if self.door is None:
            return
        while True:
            await self._door_flag.wait()
            await asyncio.sleep_ms(_DOOR_DEBOUNCE_MS)
            level = self.door.value()
            if level != self._door_open:
                self._door_open = level
                if self._pending:  # movement before the door moved goes first
                    self._report(self.device.clock.uptime_ms())
                self.device.emit("door_open" if level else "door_close")

    def report(self, msg: "dict[str, Any]") -> None:
        msg["triggers"] = min(self.triggers, 65535)
        self.triggers = 0


ROLE = MotionRole
