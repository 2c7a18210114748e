"""Inactivity: no sign of life within the active hours, and not up by the latest rise time.

Inactivity: no activity at home for ``inactivity_hours``, counted only inside the resident's
active hours (a night's sleep is not inactivity; the clock starts again at ``active_start``).
Not up: in bed at ``latest_rise`` after going to bed during the night; while that alarm is open
the inactivity rule stays quiet (it is the same silence). Both are suppressed while the
resident is away and resolved by the next sign of life (for not up: leaving the bed).
"""

from __future__ import annotations

from . import alarm_book
from .context import Context
from .local_time import next_wall_time, window_at_or_after, window_containing
from .model import INACTIVITY, NOT_UP, ResidentState
from .resident import Resident


def inactivity_due(ctx: Context, resident: Resident, since: float) -> float:
    """When inactivity since ``since`` becomes an alarm: ``inactivity_hours`` of active time."""
    hours = resident.thresholds.inactivity_hours * 3600.0
    days = ctx.local_days(resident)
    start, end = window_at_or_after(days, resident.active_start, resident.active_end, since)
    begin = since if since > start else start
    if begin + hours <= end:
        return begin + hours
    start, end = window_at_or_after(days, resident.active_start, resident.active_end, end)
    return start + hours


def on_activity(ctx: Context, resident: Resident) -> None:
    alarm_book.resolve_alarm(ctx, INACTIVITY, resident.id, "activity")


def on_bed_out(ctx: Context, resident: Resident) -> None:
    alarm_book.resolve_alarm(ctx, NOT_UP, resident.id, "out of bed")


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if rs.last_activity_at is None:
        return
    now = ctx.now
    if rs.in_bed and rs.bed_in_at is not None:
        days = ctx.local_days(resident)
        if window_containing(days, resident.night_start, resident.night_end,
                             rs.bed_in_at) is not None:  # back to bed in the daytime: no
            rise = next_wall_time(days, resident.latest_rise, rs.bed_in_at)
            if now >= rise and not (rs.away and rs.away_since <= rise):
                alarm_book.raise_alarm(ctx, NOT_UP, resident.id, resident.id, None,
                                       rs.bed_in_event, (rs.bed_in_event,),
                                       f"Still in bed at {resident.latest_rise:%H:%M}")
    if alarm_book.is_open(ctx, NOT_UP, resident.id):
        return  # the same silence: one alarm for it
    if rs.inactivity_due_for != rs.last_activity_at:
        rs.inactivity_due_for = rs.last_activity_at
        rs.inactivity_due = inactivity_due(ctx, resident, rs.last_activity_at)
    due = rs.inactivity_due
    if now >= due and not (rs.away and rs.away_since <= due):
        hours = resident.thresholds.inactivity_hours
        alarm_book.raise_alarm(ctx, INACTIVITY, resident.id, resident.id, None,
                               rs.last_activity_event, (rs.last_activity_event,),
                               f"No activity at home for {hours:g} h in active hours")
