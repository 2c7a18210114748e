"""Local wall-clock windows (night, active hours, latest rise) as UTC instants, DST-correct.

Rules compare UTC epoch seconds; residents live by the wall clock. Each conversion goes through
``zoneinfo`` for the resident's own zone, so "22:00" is 22:00 on the night clocks change too
(a night from 22:00 to 07:00 is 10 hours long at the end of October and 8 at the end of March in
Europe/Oslo). A wall time that does not exist (02:30 on the spring-forward night) is read with
the offset before the change (PEP 495 ``fold=0``), i.e. as 03:30; one that exists twice (the
autumn night) as its first occurrence.

Conversions are cached per local day, so replaying a year of events does a handful of zoneinfo
look-ups per day rather than several per event.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache


@lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@lru_cache(maxsize=65536)
def at_local(zone: str, day: int, hour: int, minute: int) -> float:
    """UTC epoch seconds of ``hour:minute`` wall time on proleptic day ordinal ``day``."""
    d = dt.date.fromordinal(day)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=_zone(zone)).timestamp()


class LocalDays:
    """Which local day an instant falls on, for one time zone, with the day's bounds cached."""

    __slots__ = ("_day", "_end", "_hour", "_hour_day", "_hour_end", "_hour_start", "_start",
                 "zone")

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self._day = 0
        self._start = 0.0
        self._end = -1.0
        self._hour = 0
        self._hour_day = 0
        self._hour_start = 0.0
        self._hour_end = -1.0

    def day_of(self, t: float) -> int:
        """Proleptic Gregorian ordinal of the local date of ``t``."""
        if self._start <= t < self._end:
            return self._day
        day = dt.datetime.fromtimestamp(t, _zone(self.zone)).toordinal()
        self._day = day
        self._start = at_local(self.zone, day, 0, 0)
        self._end = at_local(self.zone, day + 1, 0, 0)
        return day

    def hour_of(self, t: float) -> tuple[int, int, float]:
        """(local day, local hour 0-23, the instant that hour ends) of ``t``. Clock changes
        happen on the hour in the Nordic zones, so every local hour is 3600 s long."""
        if self._hour_start <= t < self._hour_end:
            return self._hour_day, self._hour, self._hour_end
        day = self.day_of(t)
        local = dt.datetime.fromtimestamp(t, _zone(self.zone))
        start = t - (local.minute * 60 + local.second + local.microsecond / 1e6)
        self._hour = local.hour
        self._hour_day = day
        self._hour_start = start
        self._hour_end = min(start + 3600.0, self._end)
        return day, self._hour, self._hour_end

    def seconds_after(self, t: float, day: int, hour: int) -> float:
        """Seconds from ``hour``:00 local on ``day`` to ``t`` (clock times of the routine)."""
        return t - at_local(self.zone, day, hour, 0)


def window_containing(days: LocalDays, start: dt.time, end: dt.time,
                      t: float) -> tuple[float, float] | None:
    """The occurrence of the daily wall-clock window [start, end) that contains ``t``, as UTC
    instants, or None. ``end <= start`` means the window wraps midnight (a night)."""
    zone = days.zone
    day = days.day_of(t)
    if start < end:
        a = at_local(zone, day, start.hour, start.minute)
        b = at_local(zone, day, end.hour, end.minute)
        return (a, b) if a <= t < b else None
    # Wrapping window: it is either the one that started yesterday or the one starting today.
    b = at_local(zone, day, end.hour, end.minute)
    if t < b:
        return at_local(zone, day - 1, start.hour, start.minute), b
    a = at_local(zone, day, start.hour, start.minute)
    if t >= a:
        return a, at_local(zone, day + 1, end.hour, end.minute)
    return None


def window_at_or_after(days: LocalDays, start: dt.time, end: dt.time,
                       t: float) -> tuple[float, float]:
    """The occurrence of a same-day window [start, end) that contains ``t``, else the next."""
    zone = days.zone
    day = days.day_of(t)
    for d in (day, day + 1):
        a = at_local(zone, d, start.hour, start.minute)
        b = at_local(zone, d, end.hour, end.minute)
        if t < b:
            return a, b
    raise AssertionError("unreachable: tomorrow's window ends after t")


def next_wall_time(days: LocalDays, clock: dt.time, t: float) -> float:
    """The first instant strictly after ``t`` whose wall-clock time is ``clock``."""
    zone = days.zone
    day = days.day_of(t)
    for d in (day, day + 1, day + 2):
        x = at_local(zone, d, clock.hour, clock.minute)
        if x > t:
            return x
    raise AssertionError("unreachable")
