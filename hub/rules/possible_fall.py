"""Possible fall: a night bed exit without return, and a bathroom visit followed by stillness.

Night: a bed exit inside the night window with no return to bed within ``bed_exit_return_min``
and no motion anywhere for ``night_no_motion_min`` since the last motion. The episode ends with
the night window (after that the daytime rules watch) or with a return to bed.

Bathroom (any time of day): the last sign of life was motion in a bathroom and nothing has
moved anywhere for ``bathroom_no_motion_min``.

Both are suppressed while the resident is away. An open possible-fall alarm is resolved by a
return to bed or by motion in another room than the one the resident was last seen in (the
person has walked away); motion in the same room may be someone moving on the floor.
"""

from __future__ import annotations

from . import alarm_book
from .context import Context
from .local_time import window_containing
from .model import POSSIBLE_FALL, Event, ResidentState
from .resident import Resident


def on_bed(ctx: Context, resident: Resident, rs: ResidentState, ev: Event, at: float) -> None:
    if ev.name == "bed_out":
        night = window_containing(ctx.local_days(resident), resident.night_start,
                                  resident.night_end, at)
        if night is not None:
            rs.night_exit_at = at
            rs.night_exit_event = ev.id
            rs.night_exit_ends = night[1]
    else:
        rs.night_exit_at = None
        alarm_book.resolve_alarm(ctx, POSSIBLE_FALL, resident.id, "back in bed")


def on_motion(ctx: Context, resident: Resident, room: str | None) -> None:
    alarm = ctx.state.open_alarms.get((POSSIBLE_FALL, resident.id))
    if alarm is not None and room is not None and alarm.room is not None and room != alarm.room:
        alarm_book.resolve_alarm(ctx, POSSIBLE_FALL, resident.id, "moving in another room")


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if rs.away:
        return
    t = resident.thresholds
    now = ctx.now
    if rs.night_exit_at is not None:
        last_motion = rs.last_motion_at or 0.0
        if last_motion < rs.night_exit_at:
            last_motion = rs.night_exit_at
        due = max(rs.night_exit_at + t.bed_exit_return_min * 60.0,
                  last_motion + t.night_no_motion_min * 60.0)
        if due >= rs.night_exit_ends:
            if now >= rs.night_exit_ends:
                rs.night_exit_at = None  # morning: the daytime rules take over
        elif now >= due:
            alarm_book.raise_alarm(
                ctx, POSSIBLE_FALL, resident.id, resident.id, None, rs.night_exit_event,
                (rs.night_exit_event, rs.last_motion_event),
                f"Out of bed at night for {t.bed_exit_return_min:g} min without return, "
                f"no motion for {t.night_no_motion_min:g} min", rs.last_motion_room)
    if (rs.last_activity_is_bathroom_motion and rs.last_activity_at is not None
            and now >= rs.last_activity_at + t.bathroom_no_motion_min * 60.0):
            alarm_book.raise_alarm(
                ctx, POSSIBLE_FALL, resident.id, resident.id, None, rs.last_activity_event,
                (rs.last_activity_event,),
                f"No motion for {t.bathroom_no_motion_min:g} min after a bathroom visit",
                rs.last_motion_room)
