"""Pick the HAL for the platform the firmware is running on."""

import sys

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from .hal import Hal


def hal_for_platform() -> "Hal":
    if sys.platform == "esp32":
        from .esp32.hal import Esp32Hal

        return Esp32Hal()
    from .sim.hal import SimHal

    return SimHal()
