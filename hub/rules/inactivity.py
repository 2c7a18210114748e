"""The routine's other limits: not up, in bed too long, not in bed, not back as usual.

Each compares the present with what her own history shows (``routine.py``), with defaults
while it is learned and bounds a technician sets; none lets a state silence the rules for ever.

* Not up (``not_up``): still in bed, after the night, later than the latest rise of the
  learning days plus ``rise_margin_min`` (default ``latest_rise``, never after
  ``latest_rise_max``). Resolved by leaving the bed.
* In bed too long (``not_up``): a bed stay that began outside the night longer than her longest
  nap (with the learned margin; ``nap_default_h`` while learning, within ``nap_floor_h`` ..
  ``nap_ceiling_h``). Resolved by leaving the bed.
* Not in bed (``inactivity``): a home with a bed sensor, later than her latest bedtime plus
  ``rise_margin_min`` (default ``latest_bedtime``, never after ``latest_bedtime_max``), no bed
  stay begun that evening, and no sign of life for ``not_in_bed_still_min``. Once an evening.
* Not back as usual (``inactivity``): an inferred absence longer than her longest outing (with
  the learned margin; ``outing_default_h`` while learning, within ``outing_floor_h`` ..
  ``outing_ceiling_h``). A fall right behind the door looks like leaving; this finds it the
  same day. Resolved by any sign of life at home.

In bed counts as in bed also after an exit no motion confirmed (presence.py).
"""

from __future__ import annotations

import datetime as dt

from . import alarm_book, local_check, presence, routine, texts
from .context import Context
from .local_time import at_local, next_wall_time, window_containing
from .model import INACTIVITY, NOT_UP, POSSIBLE_FALL, ResidentState
from .resident import Resident


def _seconds(clock: dt.time) -> float:
    return clock.hour * 3600.0 + clock.minute * 60.0


def _clock(seconds: float) -> dt.time:
    minutes = int(seconds // 60) % (24 * 60)
    return dt.time(minutes // 60, minutes % 60)


def on_sign_of_life(ctx: Context, resident: Resident) -> None:
    alarm_book.resolve_alarm(ctx, INACTIVITY, resident.id, "activity")
    local_check.end(ctx, resident, INACTIVITY, "activity")


def on_bed_out(ctx: Context, resident: Resident) -> None:
    alarm_book.resolve_alarm(ctx, NOT_UP, resident.id, "out of bed")
    local_check.end(ctx, resident, NOT_UP, "out of bed")


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if rs.seen_at is None or (rs.away and rs.away_by_command):
        return
    if rs.away:
        _not_back(ctx, resident, rs)
    elif presence.in_bed(rs):
        _in_bed(ctx, resident, rs)
    elif rs.leaving_at is None:
        _not_in_bed(ctx, resident, rs)


def _in_bed(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    start = rs.stay_start
    if start is None:
        return
    days = ctx.local_days(resident)
    now = ctx.now
    today = days.day_of(now)
    key = (rs.stay_event, rs.stay_night, today)
    if rs.in_bed_due_for == key and now < rs.in_bed_due:
        return  # a night in bed ticks 2,000 times: the limit is the same all day
    rs.in_bed_due_for = key
    rs.in_bed_due = float("inf")
    t = resident.thresholds
    if rs.stay_night:
        bound = routine.clock_bound(resident, rs.routine.rises, today,
                                    _seconds(resident.latest_rise),
                                    _seconds(resident.latest_rise_max))
        rise = next_wall_time(days, _clock(bound.limit), start)
        rs.in_bed_due = rise
        if now < rise:
            return
        due = rise
        clauses = (f"Still in bed at {texts.clock(days, now)}",
                   f"usually up by {texts.clock_of(bound.usual)}"
                   if bound.usual is not None else "")
    else:
        bound = routine.duration_bound(resident, rs.routine.naps, today,
                                       t.nap_default_h * 3600.0, t.nap_floor_h * 3600.0,
                                       t.nap_ceiling_h * 3600.0)
        rs.in_bed_due = due = start + bound.limit
        if now - start < bound.limit:
            return
        clauses = (f"In bed since {texts.clock(days, start)} ({texts.duration(now - start)})",
                   f"naps usually under {texts.duration(bound.usual)}"
                   if bound.usual is not None else "")
    local_check.ask_or_raise(ctx, resident, rs, NOT_UP, rs.stay_event, (rs.stay_event,),
                             clauses, ctx.layout(resident.id).bed_room, due)


def _not_in_bed(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if rs.in_bed is None or rs.seen_at is None:
        return  # no bed sensor has spoken: nothing to tell bedtime by
    t = resident.thresholds
    now = ctx.now
    quiet = now - rs.seen_at
    if quiet < t.not_in_bed_still_min * 60.0:
        return
    days = ctx.local_days(resident)
    if window_containing(days, resident.night_start, resident.night_end, now) is None:
        return  # the morning: the daytime rules watch
    evening = days.day_of(now - 43200.0)
    if rs.not_in_bed_evening == evening:
        return
    noon = at_local(days.zone, evening, 12, 0)
    if rs.stay_start is not None and rs.stay_start >= noon:
        return  # she has been to bed this evening
    bound = routine.clock_bound(resident, rs.routine.bedtimes, evening,
                                _seconds(resident.latest_bedtime) + 43200.0,
                                _seconds(resident.latest_bedtime_max) + 43200.0)
    if now < noon + bound.limit:
        return
    fall = f"{POSSIBLE_FALL}-{resident.id}-{rs.seen_event}"
    if fall in ctx.state.raised or local_check.handled(rs, fall):
        return  # this stillness has its alarm (or its check) already
    rs.not_in_bed_evening = evening
    where = f" in {rs.seen_room}" if rs.seen_room else ""
    clauses = (f"Not in bed at {texts.clock(days, now)}",
               f"no movement for {texts.duration(quiet)}{where}",
               f"usually in bed by {texts.clock_of(bound.usual + 43200.0)}"
               if bound.usual is not None else "")
    due = max(rs.seen_at + t.not_in_bed_still_min * 60.0, noon + bound.limit)
    local_check.ask_or_raise(ctx, resident, rs, INACTIVITY, rs.seen_event, (rs.seen_event,),
                             clauses, rs.seen_room, due)


def _not_back(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    t = resident.thresholds
    days = ctx.local_days(resident)
    now = ctx.now
    bound = routine.duration_bound(resident, rs.routine.outings, days.day_of(now),
                                   t.outing_default_h * 3600.0, t.outing_floor_h * 3600.0,
                                   t.outing_ceiling_h * 3600.0)
    out = now - rs.away_since
    if out < bound.limit:
        return
    clauses = (f"Not back as usual: out {texts.duration(out)}",
               f"usually back within {texts.duration(bound.usual)}"
               if bound.usual is not None else "")
    local_check.ask_or_raise(ctx, resident, rs, INACTIVITY, rs.away_event, (rs.away_event,),
                             clauses, None, rs.away_since + bound.limit)
