"""RAM: the firmware must fit the heap an ESP32 without PSRAM leaves it (~110 KB).

Measured on the 64-bit unix port, where pointers, dict slots and qstr entries are twice the
ESP32's size. Until protocol/ and the firmware are slimmed the full firmware does not fit
there, so simulated boards run with simboard.DEFAULT_HEAPSIZE; the strict xfail below turns
into a failure the day it fits, and DEFAULT_HEAPSIZE then goes back to ESP32_HEAPSIZE.
"""

from __future__ import annotations

from typing import Any

import pytest

from trygg.tools.mosquitto import Mosquitto
from trygg.tools.simboard import ESP32_HEAPSIZE, HubSide, SimBoard, board_config

pytestmark = pytest.mark.micropython

# Working room the running firmware needs on top of what is in use when idle: a frame being
# sealed and sent, a downlink frame being verified, socket buffers of the asyncio streams.
RUNTIME_HEADROOM = 12 * 1024


def _kib(size: str) -> int:
    return int(size.rstrip("k")) * 1024


@pytest.mark.xfail(reason="64-bit unix port: firmware + protocol use ~104 KB after boot; "
                   "protocol/ is being slimmed (see tools/simboard.py DEFAULT_HEAPSIZE)")
def test_firmware_after_boot_leaves_headroom_in_an_esp32_heap(
        micropython_bin: Any, mosquitto: Mosquitto) -> None:
    cfg = board_config("motion", mosquitto.port)
    with HubSide(mosquitto.host, mosquitto.port) as hub, \
            SimBoard(cfg, micropython=micropython_bin) as board:
        hub.add_device(cfg["device_id"], cfg["key"])
        hub.wait_for(lambda r: r.msg["type"] == "hello")
        in_use = int(board.control("heap").split()[1])
    assert in_use + RUNTIME_HEADROOM <= _kib(ESP32_HEAPSIZE), f"{in_use} bytes in use"
