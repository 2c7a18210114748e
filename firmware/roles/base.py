"""The life cycle every device role shares (the ESPHome component model).

``setup()`` claims the role's signals from the HAL; ``run()`` is the role's
task for as long as the device runs; ``report(msg)`` adds the role's fields to
a heartbeat; ``command(msg)`` handles the hub commands the role owns and
returns ``(status, detail)``; ``config_changed()`` re-reads tunables after a
set_config; ``clock_changed()`` follows the hub's set_time; ``tick()`` is
called once a second (from the watchdog feeder) for roles that keep time
without a timer task of their own; ``CONFIG`` names
the tunables the role reads (its described configuration; defaults and ranges
in firmware/config.py).

State that must survive a reboot or (later) a deep sleep goes to
``device.storage``, never module globals.
"""

import asyncio

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


class Role:
    NAME = ""
    CONFIG: "tuple[str, ...]" = ()
    COMMANDS: "tuple[str, ...]" = ()

    def __init__(self, device: "Any") -> None:
        self.device = device
        self.hal = device.hal
        self.cfg = device.cfg

    def setup(self) -> None:
        pass

    async def run(self) -> None:
        await asyncio.Event().wait()  # a role with nothing to do runs forever

    def report(self, msg: "dict[str, Any]") -> None:
        pass

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        return "unsupported", "role " + self.NAME

    def config_changed(self) -> None:
        pass

    def clock_changed(self) -> None:
        pass

    def tick(self) -> None:
        pass
