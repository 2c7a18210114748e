"""Boot: load and validate the configuration, then run the device.

Imported by the one-line /main.py (source: firmware/boot_main.py), which the
ESP32 runs after boot.py and which tools/sim/board.py runs on the unix port.
A missing or bad configuration leaves the device in the "needs provisioning"
state: the reason is printed on the serial console every few seconds, nothing
else runs, and Ctrl-C (KeyboardInterrupt) drops to the REPL for provisioning.
The watchdog is not started in that state, so it never becomes a reset loop.
"""

import time

from micropython import const

from . import forget

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# Modules needed only to configure the device; dropped before it is built.
_BOOT_ONLY = const(("firmware.config", "firmware.roles", "hw.select", "hw.boards",
                    "hw.boards.esp32_devkitc"))

_PROVISIONING_REPEAT_S = const(3)  # often enough to be seen on a freshly opened console


def configure() -> "Any":
    """``(hal, cfg)``, or None after the needs-provisioning state was left for the REPL."""
    from hw.select import hal_for_platform

    from . import config

    def needs_provisioning(reason: str) -> None:
        try:
            while True:
                print("NEEDS PROVISIONING: " + reason)
                time.sleep(_PROVISIONING_REPEAT_S)
        except KeyboardInterrupt:
            print("provisioning state left for the REPL")

    hal = hal_for_platform()
    try:
        cfg = config.load(hal.root + config.FILE_NAME, hal.storage)
    except config.ConfigError as e:
        needs_provisioning(str(e))
        return None
    try:
        hal.use_board(cfg["board"], cfg["role"])
    except ValueError as e:
        needs_provisioning("%s: board: %s" % (config.FILE_NAME, e))
        return None
    print("device: %s %s on %s, room %s" % (cfg["device_id"], cfg["role"], cfg["board"],
                                            cfg["room"]))
    return hal, cfg


# Boot in two phases, so that configuration and the device never share the heap: the
# validation code and the board files are dropped before the device is built, and the role
# registry after. At module level, not in a function: the garbage collector scans the C stack
# conservatively, and a frame that stays alive under the event loop (a run() function calling
# asyncio.run) can hold stale pointers to the dropped modules and keep them (~5 KB) alive.
_setup = configure()
del configure  # its code too is needed no more
forget(_BOOT_ONLY)
if _setup is not None:
    import asyncio

    from .device import Device

    _device = Device(_setup[0], _setup[1])
    _setup = None
    # hw.hal too: its values (reset causes, IRQ edges) were copied by the modules that
    # imported them; the module itself is needed no more.
    forget(("firmware.roles", "hw.hal"))
    asyncio.run(_device.run())
