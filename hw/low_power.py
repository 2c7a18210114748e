"""The HAL's deep sleep and ESP-NOW radio, for battery devices and the bridge only.

A Wi-Fi device never imports this: every name a module defines is interned in the ESP32's
heap for good (qstrs are never freed), and the mains-powered roles have no room to spare
(tests/firmware/test_heap.py). ``of(hal)`` gives the platform's half of the HAL for these
devices, made once and kept on the HAL; hw/hal.py (``LowPower``) describes its interface.
"""

import sys

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

    from .hal import LowPower


def of(hal: "Any") -> "LowPower":
    """The deep-sleep and radio half of ``hal`` (made on first use, after hal.use_board)."""
    lp = getattr(hal, "low_power", None)
    if lp is None:
        if sys.platform == "esp32":
            from .esp32.low_power import Esp32LowPower as kind
        else:
            from .sim.low_power import SimLowPower as kind
        lp = hal.low_power = kind(hal)
    return lp
