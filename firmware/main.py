"""Boot: load and validate the configuration, then run the device.

Imported by the one-line /main.py (source: firmware/boot_main.py), which the
ESP32 runs after boot.py and which tools/simboard.py runs on the unix port.
A missing or bad configuration leaves the device in the "needs provisioning"
state: the reason is printed on the serial console every few seconds, nothing
else runs, and Ctrl-C (KeyboardInterrupt) drops to the REPL for provisioning.
The watchdog is not started in that state, so it never becomes a reset loop.
"""

import sys
import time

from hw.select import hal_for_platform

from . import config

# Modules needed only to boot; dropped afterwards to give their RAM back to the heap.
_BOOT_ONLY = ("firmware.config", "firmware.roles", "hw.select", "hw.boards",
              "hw.boards.esp32_devkitc")

PROVISIONING_REPEAT_S = 3  # often enough to be seen on a freshly opened console


def needs_provisioning(reason: str) -> None:
    try:
        while True:
            print("NEEDS PROVISIONING: " + reason)
            time.sleep(PROVISIONING_REPEAT_S)
    except KeyboardInterrupt:
        print("provisioning state left for the REPL")


def _unload() -> None:
    global config, hal_for_platform
    config = hal_for_platform = None  # type: ignore[assignment]
    for name in _BOOT_ONLY:
        if name in sys.modules:
            del sys.modules[name]
            parent, _, child = name.rpartition(".")
            package = sys.modules.get(parent)
            if package is not None and hasattr(package, child):
                delattr(package, child)
    import gc

    gc.collect()


def run() -> None:
    hal = hal_for_platform()
    try:
        cfg = config.load(hal.root + config.FILE_NAME, hal.storage)
    except config.ConfigError as e:
        needs_provisioning(str(e))
        return
    try:
        hal.use_board(cfg["board"], cfg["role"])
    except ValueError as e:
        needs_provisioning("%s: board: %s" % (config.FILE_NAME, e))
        return
    import asyncio

    from .device import Device

    device = Device(hal, cfg)
    _unload()
    print("device: %s %s on %s, room %s" % (cfg["device_id"], cfg["role"], cfg["board"],
                                            cfg["room"]))
    asyncio.run(device.run())


run()
