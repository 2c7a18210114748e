"""Who the rules watch over: a resident, the home's wall-clock windows and the thresholds.

This is the rules' own model. ``trygg.hub.config`` builds these from the hub's TOML file (and
names the file, key and fix for every bad value); the benchmark and replay tools build them
from a recording. Nothing here reads a file: the rules core stays importable, and replayable,
without the hub around it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Per-resident rule thresholds. Defaults with their reasons; README "Rules" repeats them."""

    # Night fall: a normal night-time toilet visit takes 5-15 minutes; 20 leaves margin for a
    # slow walker without leaving someone on the floor for long.
    bed_exit_return_min: float = 20.0
    # ... and no motion anywhere for this long since the last motion: a person walking about
    # triggers a PIR every minute or two; 15 quiet minutes away from bed is not normal at night.
    night_no_motion_min: float = 15.0
    # Bathroom fall: after motion in a bathroom, no motion anywhere for this long. A PIR sees
    # someone washing or on the toilet at least every few minutes; 40 covers a long bath.
    bathroom_no_motion_min: float = 40.0
    # Inactivity: no activity at home for this long inside the active hours. Four hours is the
    # common setting of Nordic safety-alarm services; shorter raises alarms for a nap.
    inactivity_hours: float = 4.0
    # Away inference: after the entrance door opened and closed, this long without motion inside
    # before the home counts as empty (a PIR sees someone who stayed within a minute or two).
    away_confirm_min: float = 10.0
    # Motion this soon after the door closed is the resident leaving the PIR's view, not staying.
    away_grace_s: float = 30.0
    # Medication: minutes after "dose due" before a dose not taken is reported missed; the
    # dispenser's own reminder window is 60 by default (device config dose_window_min) and the
    # hub waits a little longer so the device's own "dose_missed" normally comes first.
    dose_window_min: float = 75.0
    # Device supervision: a device is silent after this many heartbeat intervals without any
    # frame; three allows for two lost heartbeats (Wi-Fi roaming, a broker restart).
    silent_heartbeats: float = 3.0
    # Heartbeat interval assumed for a device whose interval the hub has not set (seconds);
    # matches the firmware default.
    heartbeat_s: float = 300.0
    # Low battery below this (mV), cleared above battery_ok_mv: the hysteresis keeps a battery
    # that sags under radio load from raising and clearing the notice every heartbeat.
    battery_low_mv: int = 3400
    battery_ok_mv: int = 3600
    # Dispenser stock at or below this many doses is a technical notice (a refill visit takes a
    # day to plan).
    stock_low_doses: int = 4


@dataclass(frozen=True)
class Resident:
    id: str
    arc_account: str
    timezone: str = "Europe/Oslo"
    # Night: from night_start to night_end (local time, may wrap midnight). The night fall rule
    # runs only then.
    night_start: dt.time = dt.time(22, 0)
    night_end: dt.time = dt.time(7, 0)
    # Active hours for the inactivity rule (local time).
    active_start: dt.time = dt.time(7, 0)
    active_end: dt.time = dt.time(22, 0)
    # Not up: still in bed at this local time (without having left it since night_end).
    latest_rise: dt.time = dt.time(10, 0)
    bathroom_rooms: tuple[str, ...] = ("bathroom",)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


