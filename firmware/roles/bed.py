"""Bed role: pressure mat (FSR divider or load-cell amplifier) on an ADC.

In bed when the level stays at or above ``bed_enter_level`` for
``bed_enter_s``; out of bed when it stays at or below ``bed_exit_level`` for
``bed_exit_s``. The gap between the levels is the hysteresis and the times
are the debounce: turning over in bed is not an exit. The state at boot is
taken from the mat without an event (the hub has the last one). Heartbeats
carry the raw level for diagnosis; ``calibrate`` (reference empty or
occupied) measures the mat and, once both references are known, places the
thresholds between them (set_config, persisted like the hub's own settings).
"""

import asyncio

from micropython import const

from .base import Role

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

_CALIBRATION = const("bed_ref")  # storage record: {"empty": level, "occupied": level}
_CALIBRATION_SAMPLES = const(8)
# Thresholds at 60 % / 40 % of the way from empty to occupied: the 20 % gap is hysteresis.
_ENTER_PERCENT = const(60)
_EXIT_PERCENT = const(40)


class BedRole(Role):
    NAME = "bed"
    REPORT = ("calibrated",)  # bed_in / bed_out are alarm class: never dropped
    SIGNALS = ("bed",)
    CONFIG = {
        # Pressure mat on ADC (0..65535): the gap between the two levels is the hysteresis
        # that keeps a restless sleeper from toggling in/out.
        "bed_enter_level": 24000,
        "bed_exit_level": 16000,
        # Seconds above/below a level before the state changes: turning over is not an exit.
        "bed_enter_s": 10,
        "bed_exit_s": 5,
        "sample_ms": (200, 10, 10000),  # sampling period of the mat
    }
    COMMANDS = ("calibrate",)

    @staticmethod
    def conflict(cfg: "dict[str, Any]", changes: "dict[str, Any]") -> "str | None":
        enter = changes.get("bed_enter_level", cfg["bed_enter_level"])
        if changes.get("bed_exit_level", cfg["bed_exit_level"]) >= enter:
            return "bed_exit_level: must be below bed_enter_level (%d) for hysteresis" % enter
        return None

    def setup(self) -> None:
        self.mat = self.hal.adc("bed")
        self.level = self.mat.read_u16()
        self.in_bed = self.level >= self.cfg["bed_enter_level"]
        self._since = -1  # uptime ms when the level first crossed towards the other state

    async def run(self) -> None:
        clock = self.device.clock
        while True:
            await asyncio.sleep_ms(self.cfg["sample_ms"])
            self.level = level = self.mat.read_u16()
            cfg = self.cfg
            if self.in_bed:
                crossing = level <= cfg["bed_exit_level"]
                hold = cfg["bed_exit_s"]
            else:
                crossing = level >= cfg["bed_enter_level"]
                hold = cfg["bed_enter_s"]
            if not crossing:
                self._since = -1
                continue
            now = clock.uptime_ms()
            if self._since < 0:
                self._since = now
            if now - self._since >= hold * 1000:
                self.in_bed = not self.in_bed
                self._since = -1
                self.device.emit("bed_in" if self.in_bed else "bed_out")

    def report(self, msg: "dict[str, Any]") -> None:
        msg["level"] = self.level

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        total = 0
        for _ in range(_CALIBRATION_SAMPLES):
            total += self.mat.read_u16()
        level = total // _CALIBRATION_SAMPLES
        storage = self.device.storage
        refs = storage.read_json(_CALIBRATION) or {}
        refs[msg["reference"]] = level
        storage.write(_CALIBRATION, refs, True)
        self.device.emit("calibrated", level)
        empty = refs.get("empty")
        occupied = refs.get("occupied")
        if empty is None or occupied is None:
            return "ok", "need the other reference"
        span = occupied - empty
        if span <= 0:
            return "failed", "occupied not above empty"
        return self.device.set_config({
            "bed_enter_level": empty + span * _ENTER_PERCENT // 100,
            "bed_exit_level": empty + span * _EXIT_PERCENT // 100,
        })


ROLE = BedRole
