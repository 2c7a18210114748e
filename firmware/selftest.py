"""Device self-test, run over the serial REPL by ``trygg provision``.

Loads and validates the configuration exactly as boot does, selects the
board's pins for the role, and seals a test frame with the device's key. The
tool verifies that frame with the key it generated, which proves on the
device itself that the configuration, the key and the protocol code work --
before the technician leaves the home. Prints one JSON line; never raises.
The frame uses sequence number 0 and is never sent: the hub would refuse it
as too old, so it cannot be replayed to any effect.
"""

import binascii
import gc
import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run() -> None:
    out: dict[str, Any] = {"ok": False}
    try:
        from hw.select import hal_for_platform

        from . import config

        hal = hal_for_platform()
        cfg = config.load(hal.root + config.FILE_NAME, hal.storage)
        hal.use_board(cfg["board"], cfg["role"])
        from protocol import frame
        from protocol.cose import MacKey

        msg = {"type": "event", "uptime": 0, "event": "button", "value": 0}
        sealed = frame.seal(msg, MacKey(binascii.unhexlify(cfg["key"])),
                            binascii.unhexlify(cfg["device_id"]), 0)
        gc.collect()
        out = {"ok": True, "device_id": cfg["device_id"], "role": cfg["role"],
               "board": cfg["board"], "room": cfg["room"],
               "frame": binascii.hexlify(sealed).decode(), "free_heap": hal.free_heap()}
    except Exception as e:  # a self-test reports; it does not crash the REPL session
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))
