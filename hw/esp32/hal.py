"""The HAL on an ESP32 running MicroPython: GPIO, ADC1, LEDC PWM, RTC, the
hardware watchdog (machine.WDT, task watchdog of ESP-IDF) and Wi-Fi."""

import asyncio
import time

import machine
import network
from micropython import const

from ..hal import DEEP_SLEEP, HARD, POWER_ON, SOFT, UNKNOWN, WATCHDOG
from ..storage import Storage

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

_CAUSES = {
    machine.PWRON_RESET: POWER_ON,
    machine.HARD_RESET: HARD,
    machine.WDT_RESET: WATCHDOG,
    machine.DEEPSLEEP_RESET: DEEP_SLEEP,
    machine.SOFT_RESET: SOFT,
}
# Seconds from 1970-01-01 to 2000-01-01, for ports whose time epoch is 2000.
_EPOCH_2000 = const(946684800)
# After a power cut the RTC restarts at the port's epoch; a time before 2024-01-01 was never set.
_RTC_SET_AFTER = const(1704067200)


class Esp32Hal:
    root = "/"

    def __init__(self) -> None:
        self.storage = Storage("/data")
        self.signals: dict[str, int] = {}
        self._battery: Any = None
        self._divider = 2
        self.power = "battery"  # until use_board reads the board file
        self._wdt: Any = None
        self._wlan = network.WLAN(network.STA_IF)

    async def start(self) -> None:
        pass

    def use_board(self, board: str, role: str) -> None:
        from .. import boards  # here, not at the top: boot drops the board files afterwards

        self.signals = boards.pins_for(board, role)
        module = boards.load(board)
        self.power = module.POWER
        self._battery = machine.ADC(machine.Pin(module.BATTERY_ADC))
        self._battery.atten(machine.ADC.ATTN_11DB)
        self._divider = module.BATTERY_DIVIDER

    def _gpio(self, signal: str) -> int:
        gpio = self.signals.get(signal)
        if gpio is None:
            raise ValueError("unknown signal %r (wired: %s)" % (
                signal, ", ".join(sorted(self.signals))))
        return gpio

    def pin_in(self, signal: str, pull_up: bool = False) -> "Any":
        if pull_up:
            return machine.Pin(self._gpio(signal), machine.Pin.IN, machine.Pin.PULL_UP)
        return machine.Pin(self._gpio(signal), machine.Pin.IN)

    def pin_out(self, signal: str) -> "Any":
        return machine.Pin(self._gpio(signal), machine.Pin.OUT, value=0)

    def adc(self, signal: str) -> "Any":
        adc = machine.ADC(machine.Pin(self._gpio(signal)))
        adc.atten(machine.ADC.ATTN_11DB)  # full 0..3.1 V range
        return adc

    def pwm(self, signal: str, freq: int) -> "Any":
        return machine.PWM(machine.Pin(self._gpio(signal)), freq=freq, duty_u16=0)

    def flag(self) -> "Any":
        # Pin IRQ handlers run as soft IRQs (micropython.schedule), where asyncio.Event must
        # not be set (asyncio/event.py): the ThreadSafeFlag is the one made for it.
        return asyncio.ThreadSafeFlag()

    def free_heap(self) -> int:
        import gc

        return gc.mem_free()

    def battery_mv(self) -> int:
        if self._battery is None:
            return 0
        return self._battery.read_uv() * self._divider // 1000

    def rssi(self) -> int:
        if not self._wlan.isconnected():
            return -128
        return max(-128, min(0, self._wlan.status("rssi")))

    def reset_cause(self) -> str:
        return _CAUSES.get(machine.reset_cause(), UNKNOWN)

    def reset(self, cause: str = SOFT) -> None:
        machine.reset()

    def watchdog_start(self, timeout_ms: int) -> None:
        # Once started the ESP32 watchdog cannot be stopped (MicroPython docs, machine.WDT).
        self._wdt = machine.WDT(timeout=timeout_ms)

    def watchdog_feed(self) -> None:
        if self._wdt is not None:
            self._wdt.feed()

    def set_rtc(self, epoch_s: int) -> None:
        if time.gmtime(0)[0] == 2000:
            epoch_s -= _EPOCH_2000
        t = time.gmtime(epoch_s)
        machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))

    def rtc(self) -> "int | None":
        now = time.time()
        if time.gmtime(0)[0] == 2000:
            now += _EPOCH_2000
        return now if now >= _RTC_SET_AFTER else None

    def wifi_connected(self) -> bool:
        return self._wlan.isconnected()

    async def wifi_connect(self, ssid: str, password: str, timeout_ms: int) -> bool:
        if self._wlan.isconnected():
            return True
        self._wlan.active(True)
        try:
            self._wlan.connect(ssid, password)
        except OSError:
            # "Wifi Internal Error" when a previous connect is still in progress; disconnect
            # and let the caller retry after its backoff.
            self._wlan.disconnect()
            return False
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            if self._wlan.isconnected():
                return True
            await asyncio.sleep_ms(100)
        self._wlan.disconnect()
        return False
