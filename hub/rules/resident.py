"""Who the rules watch over: a resident, the home's wall-clock windows and the thresholds.

This is the rules' own model. ``trygg.hub.config`` builds these from the hub's TOML file (and
names the file, key and fix for every bad value); the benchmark and replay tools build them
from a recording. Nothing here reads a file: the rules core stays importable, and replayable,
without the hub around it.

Most care thresholds are *learned* from the resident's own stored history (``routine.py``): what
is set here are the principles (how far beyond the usual is unusual), the bounds a technician
may narrow, and the defaults used while there is too little history to learn from.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Per-resident rule thresholds. Defaults with their reasons; README "Rules" repeats them."""

    # --- Learning the routine ------------------------------------------------------------------
    # The routine is learned from this many past days: four weeks hold every weekday four
    # times, and commercial systems learn for two to eight weeks. Events are kept for 90 days,
    # so a restarted hub relearns the same routine from its store.
    learn_days: float = 28.0
    # A learned bound is used once this many days have shown the behaviour (a stay in that
    # room around that hour, a rise, an outing); until then the defaults below apply, or what
    # has been seen if that is longer. A duration learned from fewer than learn_days days is
    # stretched towards what the whole window would show (routine.py), so two days suffice to
    # start: the defaults are far from any one resident's routine.
    learn_min_days: int = 2
    # How far beyond the usual is unusual: the longest seen in the learning days times this,
    # plus learn_margin_min. Half as long again keeps a stay that was the longest in four
    # weeks from alarming; the added minutes cover a PIR that missed one movement.
    learn_margin: float = 1.5
    learn_margin_min: float = 5.0

    # --- Stillness (possible fall): out of bed at home, no sign of life for longer than usual
    # in the room she was last seen in, at this hour of the day ----------------------------------
    # Never alarm sooner than this: a person reading or on the toilet may not trigger a PIR
    # for several minutes.
    still_floor_min: float = 10.0
    # ... and never later than this, whatever the history says (the common setting of Nordic
    # safety-alarm services for "no activity").
    still_ceiling_min: float = 240.0
    # Defaults while learning. Away from bathrooms and outside the night: two hours covers an
    # afternoon in front of the television without a PIR trigger.
    still_default_min: float = 120.0
    # In a bathroom: a PIR sees someone washing or on the toilet every few minutes; 40 covers
    # a long bath.
    bathroom_no_motion_min: float = 40.0
    # At night out of bed: a person walking about triggers a PIR every minute or two; 20 quiet
    # minutes away from bed is not normal at night.
    night_no_motion_min: float = 20.0
    # At night a possible fall also needs the resident out of bed this long: a normal toilet
    # visit takes 5-15 minutes.
    bed_exit_return_min: float = 15.0
    # A bed exit with no motion anywhere within this many seconds before or after it is
    # doubtful: a person getting up sits up and walks, which a PIR sees; a mat that lost the
    # sleeper reports "out" without any. Until motion outside the bedroom confirms it, the
    # resident is taken to be still in bed.
    bed_exit_confirm_s: float = 120.0

    # --- Local checks: ask the resident before calling the centre (local_check.py) ------------
    # Where the home has a device that can prompt the resident, a doubtful care condition
    # (stillness, not up, not in bed, not back as usual) first asks her to press its button.
    # She has this long to answer: long enough to hear the prompt and reach a call point across
    # a flat at an older person's pace, short against the 30 minutes a fall may wait.
    check_window_min: float = 2.0
    # At most this many prompts in any hour at the check point; a condition met above it is
    # asked about only at its ordinary alarm point (and goes to the centre without an answer):
    # she answered every earlier prompt, or the centre would have been called, so asking her
    # once more is better evidence than a call, and she is not nagged before the alarm point.
    check_max_per_hour: int = 2
    # A prompt not answered within check_window_min is repeated this many times (each with
    # its own window) before the centre is called. Most unanswered prompts find her well: she
    # did not hear the buzzer over the radio, the tap or a closed door, or was still on her
    # way to the call point. One repeat costs a resident on the floor one window more and
    # spares the centre most of those calls.
    check_reasks: int = 1
    # Stillness is checked earlier than it alarms: when it is longer than on this share of the
    # learning days in that room around that hour (a quantile of the per-day longest spells;
    # 1.0 = longer than on any of them) by learn_margin_min -- without the alarm's factor
    # learn_margin --, never sooner than check_floor_min and never later than the alarm point.
    check_quantile: float = 1.0
    # While learning (no bound for that room and hour yet: the defaults above apply), stillness
    # is checked after this many quiet minutes, or at the alarm default if that is sooner (the
    # night's), or later if what has been seen there is longer (+ learn_margin_min). The rules
    # do not know her norms yet, so they ask rather than wait for a default that has to cover an
    # afternoon of television: a prompt costs her a press, and an answered check makes the rest
    # of that spell hers (asked again only at the alarm point). The night's 20 quiet minutes for
    # someone up and about; unanswered, with its repeat the centre is called 24 minutes after
    # the last sign of life, inside the 30 minutes a fall may wait.
    check_default_min: float = 20.0
    # A PIR misses a person reading or on the toilet for several minutes: asking sooner would
    # ask about ordinary quiet.
    check_floor_min: float = 10.0

    # --- Presence -------------------------------------------------------------------------------
    # Away inference: after the entrance door opened and closed while she was home, this long
    # without any sign of life inside before the home counts as empty (a PIR sees someone who
    # stayed within a minute or two).
    away_confirm_min: float = 10.0
    # The motion units' hold-off as set on the devices (firmware default 60 s): a motion report
    # that comes within this (plus half a minute for delivery) of the unit's previous report
    # may stand for movement seen before the door closed.
    motion_holdoff_s: float = 60.0
    # "Not back as usual": an inferred absence longer than the longest outing of the learning
    # days (times learn_margin, plus learn_margin_min) raises a check. Default while learning,
    # and the upper bound: a fall right behind the door looks like leaving, and must be found
    # the same day.
    outing_default_h: float = 4.0
    outing_ceiling_h: float = 12.0
    # ... and never sooner than this: errands and appointments run long, and a check call
    # about an ordinary afternoon out costs the centre's trust.
    outing_floor_h: float = 2.0

    # --- Bed ------------------------------------------------------------------------------------
    # Not up: still in bed later than the latest rise of the learning days plus this.
    rise_margin_min: float = 60.0
    # In bed in the daytime (a stay that began outside the night) longer than the longest nap
    # of the learning days (with the learned margin): default while learning, and upper bound.
    nap_default_h: float = 3.0
    nap_ceiling_h: float = 8.0
    nap_floor_h: float = 1.5  # a short napper may still sleep an hour and a half one day
    # Did not go to bed: later than the latest bedtime of the learning days plus
    # rise_margin_min, out of bed and no sign of life for this long.
    not_in_bed_still_min: float = 30.0

    # --- Medication, devices --------------------------------------------------------------------
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
    # that sags under radio load from raising and clearing the notice every heartbeat. The
    # limits follow the cell the device's role is built with (hub/roles, ``cell``):
    # A battery-powered Wi-Fi board (its hello says "battery"; mains with a backup cell or a
    # battery build): one Li-ion cell, 4.2 V full, ~3.6 V for most of its charge; below 3.4 V
    # the last tenth is left and the 3.3 V regulator is about to drop out.
    battery_low_mv: int = 3400
    battery_ok_mv: int = 3600
    # Two lithium AA cells in series (Energizer L91, the cell trygg bench energy budgets for
    # the battery motion and bed sensors): ~1.5 V a cell under load for about nine tenths of
    # their capacity, then a steep fall. Below 2800 (1.4 V a cell) they are past that knee:
    # weeks at a sleeping sensor's draw before the ESP32's brown-out detector (~2.43 V, its
    # default level) ends it, time for a planned visit. A fresh pair reads above 3100.
    aa_low_mv: int = 2800
    aa_ok_mv: int = 3100
    # A CR2032 lithium coin cell (the wearable button): 3.0-3.2 V fresh, a flat ~2.9 V for
    # most of its life, then a knee; below 2700 at rest it is past the knee (about a tenth
    # left) and the radio's peak through the buffer capacitor will soon brown the ESP32 out.
    coin_cell_low_mv: int = 2700
    coin_cell_ok_mv: int = 2900
    # Dispenser stock at or below this many doses is a technical notice (a refill visit takes a
    # day to plan).
    stock_low_doses: int = 4


@dataclass(frozen=True)
class Resident:
    id: str
    arc_account: str
    timezone: str = "Europe/Oslo"
    # Night: from night_start to night_end (local time; wraps midnight when night_end is not
    # after night_start). A bed stay that begins inside it is the night's sleep (not a nap),
    # and stillness out of bed then uses the night defaults while the routine is learned.
    night_start: dt.time = dt.time(22, 0)
    night_end: dt.time = dt.time(7, 0)
    # Not up: still in bed, after the night, at this local time -- the default while the rise
    # time is learned, and never later than latest_rise_max once it is.
    latest_rise: dt.time = dt.time(11, 0)
    latest_rise_max: dt.time = dt.time(13, 0)
    # Did not go to bed: not in bed by this local time (after night_start) -- the default while
    # the bedtime is learned, and never later than latest_bedtime_max once it is.
    latest_bedtime: dt.time = dt.time(1, 0)
    latest_bedtime_max: dt.time = dt.time(4, 0)
    bathroom_rooms: tuple[str, ...] = ("bathroom",)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)
