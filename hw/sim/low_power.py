"""Deep sleep, RTC memory and the ESP-NOW radio on the simulated board (hw/low_power.py).

Deep sleep ends the process; the launcher (tools/sim/board.py) starts it again when the
timer or the wake pin fires, as the chip starts again from /main.py. What the launcher
tells the new process:

    TRYGG_SIM_WAKE           what woke it from deep sleep: "timer" or "pin"
    TRYGG_SIM_LEVELS         input levels while it slept, "signal=level,..." (a PIR that
                             is still high when the chip is up again)
    TRYGG_SIM_BATTERY        the battery's voltage (mV), kept across the processes

Kept apart from hw/sim/hal.py so that a simulated Wi-Fi board holds none of it (heap).
"""

import os
import sys
import time

from micropython import const

from ..hal import DEEP_SLEEP, HARD, POWER_ON
from .hal import SimSignal

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

_DEEP_SLEEP_EXIT_CODE = const(76)  # deep_sleep(): the launcher wakes it (tools/sim/board.py)
_SLEEP_FILE = const("sim_sleep")  # "<ms> <signal or -> <level>": how the launcher wakes it
_RADIO_FILE = const("sim_radio")  # the simulated ESP-NOW medium's UDP port
_RESET_RECORD = const("reset_cause")  # hw/sim/hal.py reads it at the next start
_RTC_MEMORY_RECORD = const("rtc_memory")  # the simulated RTC memory (2 KB on the ESP32)
_RTC_MEMORY_SIZE = const(2048)


class SimLowPower:
    def __init__(self, hal: "Any") -> None:
        self.hal = hal
        # RTC memory survives deep sleep and resets, not a power cut or the EN button.
        if hal.reset_cause() in (POWER_ON, HARD):
            hal.storage.delete(_RTC_MEMORY_RECORD)
        mv = os.getenv("TRYGG_SIM_BATTERY")
        if mv:
            hal.battery = int(mv)
        # Input levels while the process was not running (asleep), before the role's setup.
        for item in (os.getenv("TRYGG_SIM_LEVELS") or "").split(","):
            if "=" in item:
                name, level = item.split("=")
                if name in hal.signals:
                    hal.sim[name] = SimSignal(int(level))

    def radio(self, mac: bytes, channel: int, always_on: bool = False) -> "Any":
        from .radio import SimRadio

        root = self.hal.root
        try:
            with open(root + _RADIO_FILE) as f:
                port = int(f.read())
        except (OSError, ValueError):
            raise OSError("no simulated ESP-NOW medium (%s%s)" % (root, _RADIO_FILE)) \
                from None
        return SimRadio(mac, port)

    def deep_sleep(self, ms: int, signal: "str | None" = None, level: int = 1) -> None:
        # The chip powers down all but the RTC and starts again from /main.py: the launcher
        # ends this process and starts a new one when the timer or the pin wakes it.
        self.hal.storage.write(_RESET_RECORD, DEEP_SLEEP)
        with open(self.hal.root + _SLEEP_FILE, "w") as f:
            f.write("%d %s %d" % (ms, signal or "-", level))
        print("sim: deep sleep %d ms%s" % (ms, " or %s=%d" % (signal, level) if signal else ""))
        sys.exit(_DEEP_SLEEP_EXIT_CODE)

    def wake_cause(self) -> "str | None":
        if self.hal.reset_cause() != DEEP_SLEEP:
            return None
        return os.getenv("TRYGG_SIM_WAKE") or "timer"

    def rtc_memory(self, data: "bytes | None" = None) -> bytes:
        storage = self.hal.storage
        if data is None:
            return storage.read(_RTC_MEMORY_RECORD) or b""
        if len(data) > _RTC_MEMORY_SIZE:
            raise ValueError("RTC memory holds %d bytes" % _RTC_MEMORY_SIZE)
        storage.write(_RTC_MEMORY_RECORD, data)
        return data

    def sleep_clock_ms(self) -> int:
        return int(time.time() * 1000)
