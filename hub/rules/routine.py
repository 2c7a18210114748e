"""The resident's routine, learned from the hub's own stored history.

What is learned is a handful of per-day figures, each derived from stored events as the engine
replays them -- never hidden state: a restarted hub rebuilds the same routine from its store, and
``trygg hub replay`` shows what it was at any moment.

* Quiet spells: for each local day, room and hour of the day, the longest time without any sign
  of life that the resident spent in that room (out of bed, at home) by the end of that hour
  (a spell from 19:50 to 20:40 counts 10 min for 19:00 and 50 min for 20:00). This is Floeck,
  Litz and Rodner's (2011) measure: time in the current room against what past days showed at
  that hour.
* Outings: the longest inferred absence that began on each day.
* Rises: the latest time on each day that she left a bed stay that began in the night.
* Bedtimes: when each night's sleep began (the first bed stay of the evening of two hours or
  more), in seconds after noon of the day the evening belongs to.
* Naps: the longest daytime bed stay of each day.

A bound is learned once ``learn_min_days`` of the last ``learn_days`` days show the behaviour:
the longest seen times ``learn_margin`` plus ``learn_margin_min`` (durations) or the latest seen
plus ``rise_margin_min`` (clock times), within the technician's bounds. A duration learned from
fewer days than the window is stretched by how much longer the longest of the whole window is
expected to be (:func:`_stretch`), so a young history is used, but cautiously. Below
``learn_min_days`` the default applies, or what has been seen if that is longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .local_time import LocalDays
from .resident import Resident

# Hours of the day around the current one whose quiet spells count, widened in this order until
# enough days show a stay in the room: the same hour and its neighbours first (a spell near the
# hour's edge belongs to both), the whole day last.
HOUR_RADII = (2, 3, 6, 12)
# A spell longer than a day is recorded for its first day only (the ceiling is hours).
_MAX_SPELL_HOURS = 24


@dataclass(frozen=True, slots=True)
class Bound:
    """A learned (or default) limit and what it rests on, for the alarm's text."""

    limit: float  # seconds (a duration) or seconds after a reference (a clock time)
    usual: float | None  # the typical value of the learning days (median), None if default
    days: int  # how many learning days showed the behaviour
    # Stillness only: when to ask the resident first (local_check.py), at most ``limit``;
    # learned, or check_default_min while learning.
    check: float | None = None


@dataclass(slots=True)
class Routine:
    # local day -> (room, hour) -> longest quiet attained there by the end of that hour (s)
    still: dict[int, dict[tuple[str, int], float]] = field(default_factory=dict)
    outings: dict[int, float] = field(default_factory=dict)  # day -> longest outing (s)
    rises: dict[int, float] = field(default_factory=dict)  # day -> latest rise (s after 00:00)
    bedtimes: dict[int, float] = field(default_factory=dict)  # evening's day -> s after 12:00
    naps: dict[int, float] = field(default_factory=dict)  # day -> longest daytime bed stay (s)
    # Cache of stillness bounds for (room, hour) on ``cache_day`` (a function of the above).
    cache_day: int = -1
    cache: dict[tuple[str, int, bool], Bound] = field(default_factory=dict)

    def forget_before(self, day: int) -> None:
        for table in (self.still, self.outings, self.rises, self.bedtimes, self.naps):
            for d in [d for d in table if d < day]:
                del table[d]


def _touch(routine: Routine, day: int) -> None:
    """A figure of ``day`` changed: bounds cached for later days may rest on it."""
    if day < routine.cache_day:
        routine.cache.clear()


def record_spell(routine: Routine, days: LocalDays, room: str, start: float,
                 end: float, keep_days: int = 90) -> None:
    """A quiet spell in ``room`` from ``start`` to ``end`` (out of bed, at home). Figures older
    than ``keep_days`` are forgotten when a new day begins (a replayed year stays small)."""
    t = start
    for _ in range(_MAX_SPELL_HOURS):
        if t >= end:
            return
        day, hour, hour_end = days.hour_of(t)
        attained = (end if end < hour_end else hour_end) - start
        cells = routine.still.get(day)
        if cells is None:
            routine.forget_before(day - keep_days)
            cells = routine.still[day] = {}
        key = (room, hour)
        if attained > cells.get(key, 0.0):
            cells[key] = attained
            _touch(routine, day)
        t = hour_end


def record_longest(table: dict[int, float], routine: Routine, day: int, value: float) -> None:
    if value > table.get(day, -1.0):
        table[day] = value
        _touch(routine, day)


def record_bedtime(routine: Routine, day: int, seconds_after_noon: float) -> None:
    """The night's sleep began; the first one of an evening is its bedtime."""
    if day not in routine.bedtimes:
        routine.bedtimes[day] = seconds_after_noon
        _touch(routine, day)


def earliest_bedtime(resident: Resident, routine: Routine, evening: int) -> float | None:
    """The earliest bedtime (seconds after noon) of the learning days, if any."""
    seen = [routine.bedtimes[d] for d in _window(resident, evening) if d in routine.bedtimes]
    return min(seen) if seen else None


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _window(resident: Resident, today: int) -> range:
    return range(today - int(resident.thresholds.learn_days), today)


def duration_bound(resident: Resident, table: dict[int, float], today: int, default: float,
                   floor: float, ceiling: float) -> Bound:
    """The learned limit of a duration (outing, nap) from per-day longest values."""
    t = resident.thresholds
    seen = [table[d] for d in _window(resident, today) if d in table]
    return _bound(t.learn_min_days, seen, t.learn_margin * _stretch(resident, len(seen)),
                  t.learn_margin_min * 60.0, default, floor, ceiling)


def _harmonic(n: int) -> float:
    return sum(1.0 / k for k in range(1, n + 1))


def _stretch(resident: Resident, days: int) -> float:
    """How much longer the longest of ``learn_days`` days is expected to be than the longest
    of ``days``: for spells with an exponential tail the longest of n grows as the n-th
    harmonic number, so a short history is stretched by H(learn_days) / H(days). With the full
    learning window it is 1."""
    full = max(1, int(resident.thresholds.learn_days))
    return 1.0 if days >= full or days <= 0 else _harmonic(full) / _harmonic(days)


def clock_bound(resident: Resident, table: dict[int, float], today: int, default: float,
                ceiling: float) -> Bound:
    """The learned latest clock time (rise, bedtime): latest seen plus ``rise_margin_min``."""
    t = resident.thresholds
    seen = [table[d] for d in _window(resident, today) if d in table]
    return _bound(t.learn_min_days, seen, 1.0, t.rise_margin_min * 60.0, default, 0.0, ceiling)


def _bound(min_days: int, seen: list[float], margin: float, add: float, default: float,
           floor: float, ceiling: float) -> Bound:
    if not seen:
        return Bound(min(default, ceiling), None, 0)
    learned = max(seen) * margin + add
    if len(seen) < min_days:
        learned = max(default, learned)  # still learning: never tighter than the default
    return Bound(min(max(learned, floor), ceiling), _median(seen), len(seen))


def stillness_bound(resident: Resident, routine: Routine, days: LocalDays, room: str, t: float,
                    night: bool) -> Bound:
    """How long a quiet spell in ``room`` may last at the hour of ``t`` before it is unusual.
    ``night``: she got up from the night's sleep (the night default applies while learning)."""
    day, hour, _ = days.hour_of(t)
    if routine.cache_day != day:
        routine.cache_day = day
        routine.cache.clear()
    key = (room, hour, night)
    bound = routine.cache.get(key)
    if bound is None:
        bound = routine.cache[key] = _stillness_bound(resident, routine, room, day, hour, night)
    return bound


def _check_point(resident: Resident, maxima: list[float], limit: float) -> float:
    """When to ask about a stillness: longer than on ``check_quantile`` of the learning days
    (nearest rank of the per-day longest spells) by ``learn_margin_min`` (a PIR that missed
    one movement: at exactly her usual longest she is usually about to move), within
    ``check_floor_min`` .. ``limit``."""
    t = resident.thresholds
    s = sorted(maxima)
    k = min(len(s) - 1, max(0, math.ceil(t.check_quantile * len(s)) - 1))
    return min(limit, max(t.check_floor_min * 60.0, s[k] + t.learn_margin_min * 60.0))


def _stillness_bound(resident: Resident, routine: Routine, room: str, day: int, hour: int,
                     night: bool) -> Bound:
    t = resident.thresholds
    floor, ceiling = t.still_floor_min * 60.0, t.still_ceiling_min * 60.0
    window = [routine.still[d] for d in _window(resident, day) if d in routine.still]
    maxima: list[float] = []
    for radius in HOUR_RADII:
        maxima = []
        hours = [(hour + k) % 24 for k in range(-radius, radius + 1)]
        for cells in window:
            longest = max((cells.get((room, h), 0.0) for h in hours), default=0.0)
            if longest > 0.0:
                maxima.append(longest)
        if len(maxima) >= t.learn_min_days:
            bound = _bound(t.learn_min_days, maxima,
                           t.learn_margin * _stretch(resident, len(maxima)),
                           t.learn_margin_min * 60.0, 0.0, floor, ceiling)
            return Bound(bound.limit, bound.usual, bound.days, _check_point(resident, maxima,
                                                                            bound.limit))
    if night:
        default = t.night_no_motion_min
    elif room in resident.bathroom_rooms:
        default = t.bathroom_no_motion_min
    else:
        default = t.still_default_min
    # ``maxima`` is the whole day's by now: fewer days than needed, so it may only lengthen
    # the default.
    bound = _bound(t.learn_min_days, maxima, t.learn_margin * _stretch(resident, len(maxima)),
                   t.learn_margin_min * 60.0, default * 60.0, floor, ceiling)
    # Her norm here is not known: ask at check_default_min, or what has been seen if longer.
    check = max(t.check_default_min, t.check_floor_min) * 60.0
    if maxima:
        check = max(check, _check_point(resident, maxima, bound.limit))
    return Bound(bound.limit, bound.usual, bound.days, min(check, bound.limit))
