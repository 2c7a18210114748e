"""Boards under test: simulated by default, real ESP32s with ``pytest --hil-port``.

One interface for both, so the same test code proves the same behaviour:

* ``port``: the serial port `trygg provision` uses (a pty, or /dev/ttyUSB0);
* ``control(line)``: a stimulus in the simulated HAL's grammar (``pulse pir``,
  ``adc bed 40000``, ``pin smoke_alarm 1``): on a simulated board it goes to
  its control channel; on a real board to the HIL rig board (hw/rig/firmware.py), whose
  outputs are wired to the board's inputs (hw/rig/board.py);
* ``broker_host``: the address the board uses to reach the test's broker
  (127.0.0.1 for a simulated board; the test machine's LAN address for a real
  one, given with ``--hil-hub-host``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from trygg.tools.device.serial_device import SerialDevice
from trygg.tools.sim.pty import PtyBoard


class Board(Protocol):
    port: str
    broker_host: str
    simulated: bool

    def control(self, line: str) -> str: ...

    def close(self) -> None: ...


class SimulatedBoard:
    """A fresh simulated board on a pty (empty flash, as after `trygg flash`): stock
    MicroPython, or (``romfs``) Trygg's production image with the packages in ROMFS."""

    simulated = True
    broker_host = "127.0.0.1"

    def __init__(self, workdir: Path, romfs: bool = False) -> None:
        self._board = PtyBoard(workdir, romfs=romfs).start()
        self.port = self._board.port
        self.flash = self._board.fs

    def control(self, line: str) -> str:
        return self._board.control(line)

    def close(self) -> None:
        self._board.close()


class RealBoard:
    """An ESP32 on ``port`` with MicroPython flashed, its inputs wired to the rig board."""

    simulated = False

    def __init__(self, port: str, rig_port: str | None, broker_host: str) -> None:
        self.port = port
        self.rig_port = rig_port
        self.broker_host = broker_host

    def control(self, line: str) -> str:
        if self.rig_port is None:
            raise RuntimeError("this test needs the HIL rig board: pass --hil-rig PORT")
        with SerialDevice(self.rig_port) as rig:
            script = f"import hw.rig.firmware\nprint(hw.rig.firmware.command({line!r}))\n"
            return rig.exec(script).strip()

    def close(self) -> None:
        pass


def wifi_for_real_boards() -> list[str]:
    """`trygg provision` Wi-Fi arguments from TRYGG_HIL_WIFI_SSID / TRYGG_WIFI_PASSWORD."""
    ssid = os.environ.get("TRYGG_HIL_WIFI_SSID")
    return ["--wifi-ssid", ssid] if ssid else []
