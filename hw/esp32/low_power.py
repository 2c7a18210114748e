"""Deep sleep, RTC memory and the ESP-NOW radio on the ESP32 (hw/low_power.py).

Kept apart from hw/esp32/hal.py so that a Wi-Fi device holds none of it (heap).
"""

import time

import machine
from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


class Esp32LowPower:
    def __init__(self, hal: "Any") -> None:
        self.hal = hal

    def radio(self, mac: bytes, channel: int, always_on: bool = False) -> "Any":
        from .radio import Esp32Radio

        return Esp32Radio(mac, channel, always_on)

    def deep_sleep(self, ms: int, signal: "str | None" = None, level: int = 1) -> None:
        import esp32

        # ext0: one RTC GPIO at a level (ESP32 TRM, RTC_CNTL; board files put wake signals
        # on RTC GPIOs); the timer as well when ms > 0.
        if signal is not None:
            esp32.wake_on_ext0(machine.Pin(self.hal._gpio(signal), machine.Pin.IN),
                               bool(level))
        if ms > 0:
            machine.deepsleep(ms)
        machine.deepsleep()

    def wake_cause(self) -> "str | None":
        if machine.reset_cause() != machine.DEEPSLEEP_RESET:
            return None
        return "pin" if machine.wake_reason() == machine.EXT0_WAKE else "timer"

    def rtc_memory(self, data: "bytes | None" = None) -> bytes:
        rtc = machine.RTC()
        if data is None:
            return bytes(rtc.memory())
        rtc.memory(data)
        return data

    def sleep_clock_ms(self) -> int:
        # time.time_ns() reads the RTC, which counts through deep sleep; ticks_ms does not.
        return time.time_ns() // 1000000
