"""Pick the HAL for the platform the firmware is running on."""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .hal import Hal


def hal_for_platform() -> "Hal":
    if sys.platform == "esp32":
        from .esp32.hal import Esp32Hal

        return Esp32Hal()
    from .sim.hal import SimHal

    return SimHal()
