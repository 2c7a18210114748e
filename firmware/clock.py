"""Device uptime and wall-clock time.

``time.ticks_ms`` wraps (after 2**30 ms, about 12 days, on the ESP32), so
uptime is accumulated from tick differences; anything calling ``uptime_ms``
at least every few days keeps it exact (the watchdog feeder does, every
second). Wall time is unknown until the hub sends ``set_time``, or until boot
finds the real-time clock still set from before a reset (the ESP32's RTC
survives every reset but a power cut); events always carry uptime, and time
once set, so the hub can order them either way. Local time (the dispenser's
dose times) is UTC plus the offset the hub sent with the time.
"""

import time

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


class Clock:
    def __init__(self) -> None:
        self._last: Any = time.ticks_ms()
        self._ms = 0
        self._epoch_ms_at_boot = -1
        self.utc_offset_min = 0

    def uptime_ms(self) -> int:
        now = time.ticks_ms()
        self._ms += time.ticks_diff(now, self._last)
        self._last = now
        return self._ms

    def uptime(self) -> int:
        return self.uptime_ms() // 1000

    def set_time(self, epoch_s: int, utc_offset_min: int) -> None:
        self._epoch_ms_at_boot = epoch_s * 1000 - self.uptime_ms()
        self.utc_offset_min = utc_offset_min

    def time(self) -> "int | None":
        """UTC epoch seconds, or None before the hub set the time."""
        if self._epoch_ms_at_boot < 0:
            return None
        return (self._epoch_ms_at_boot + self.uptime_ms()) // 1000

    def local(self) -> "int | None":
        """Local time in seconds (UTC epoch seconds + the hub's offset), or None if unknown."""
        now = self.time()
        if now is None:
            return None
        return now + self.utc_offset_min * 60
