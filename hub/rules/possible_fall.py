"""Possible fall: out of bed at home, and no sign of life for longer than usual for the room she
was last seen in at this hour of the day.

"Usual" is learned from her own stored history (``routine.stillness_bound``): the longest quiet
spell in that room around that hour on the last ``learn_days`` days, times ``learn_margin`` plus
``learn_margin_min``, within ``still_floor_min`` .. ``still_ceiling_min``. While there is too
little history the defaults apply: ``night_no_motion_min`` after getting up from the night's
sleep, ``bathroom_no_motion_min`` in a bathroom, ``still_default_min`` elsewhere -- where the
home can prompt her, she is asked sooner, at ``check_default_min`` (local_check.py). This one rule
covers the bathroom, a room in the daytime, a night bed exit (at night she must also have been
out of bed for ``bed_exit_return_min``) and the evening: the spell is counted across the
day/night boundary.

Not while she is away or may have just left (the door: presence.py), nor while she is in bed --
including after a bed exit that no motion confirmed (the mat may have lost the sleeper; the
in-bed rules watch that). An open alarm is resolved by a sign of life in another room than the
one she was last seen in (she has walked away), getting into bed, the door or a dose; motion in
the same room may be someone moving on the floor, and a new stillness there is a new episode.
"""

from __future__ import annotations

from . import alarm_book, local_check, presence, routine, texts
from .context import Context
from .local_time import LocalDays, window_containing
from .model import POSSIBLE_FALL, ResidentState
from .resident import Resident


def on_sign_of_life(ctx: Context, resident: Resident, room: str | None, why: str) -> None:
    for alarm in alarm_book.open_alarms(ctx, POSSIBLE_FALL, resident.id):
        if room is None or alarm.room is None or room != alarm.room:
            alarm_book.resolve(ctx, alarm, why)
    local_check.end(ctx, resident, POSSIBLE_FALL, why, room)


def on_bed_in(ctx: Context, resident: Resident) -> None:
    alarm_book.resolve_alarm(ctx, POSSIBLE_FALL, resident.id, "back in bed")
    local_check.end(ctx, resident, POSSIBLE_FALL, "back in bed")


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    seen = rs.seen_at
    if seen is None or rs.away or rs.leaving_at is not None or presence.in_bed(rs):
        return
    t = resident.thresholds
    now = ctx.now
    quiet = now - seen
    prompts = bool(ctx.layout(resident.id).prompt_devices)
    shortest = min(t.still_floor_min, t.night_no_motion_min, t.bathroom_no_motion_min,
                   t.check_floor_min if prompts else t.still_floor_min)
    if quiet < shortest * 60.0:
        return  # no limit, learned or default, is this short
    room = rs.seen_room or "home"
    days = ctx.local_days(resident)
    night = window_containing(days, resident.night_start, resident.night_end, now)
    # Got up during this night (and not back): the night default applies while learning, and
    # a toilet visit may take a while. Up late before bed is not that: the evening's limits.
    up_at_night = night is not None and rs.exit_at is not None and rs.exit_at >= night[0] \
        and rs.stay_start is not None and rs.stay_start < rs.exit_at
    bound = routine.stillness_bound(resident, rs.routine, days, room, now, up_at_night)
    # With a device to ask her on, a stillness is checked at the learned check point (never
    # later than the alarm's); without, it alarms at the alarm point, as it always did. Once
    # she has answered a check in this quiet spell (spell_from), the spell is hers as usual:
    # she is asked again only at the alarm point.
    early = prompts and rs.spell_from is None
    ask = bound.check if early and bound.check is not None else bound.limit
    if quiet < ask:
        return
    returned_by = 0.0
    if up_at_night and rs.exit_at is not None:
        returned_by = rs.exit_at + t.bed_exit_return_min * 60
        if now < returned_by:
            return
    where = f"in {room}" if rs.seen_room else "at home"
    first = f"No movement for {texts.duration(quiet)} {where}"
    # What her history shows here at this hour (nothing while it is being learned).
    usual = "" if bound.usual is None else f"usually {texts.duration(bound.usual)} at most"
    context = ""
    if up_at_night and rs.exit_at is not None:
        context = f"up since {texts.clock(days, rs.exit_at)}"
    causes = (rs.seen_event, rs.exit_event) if up_at_night else (rs.seen_event,)
    clauses = (first, context, usual)
    if local_check.decided(ctx, rs, f"{POSSIBLE_FALL}-{resident.id}-{rs.seen_event}"):
        local_check.ask_or_raise(ctx, resident, rs, POSSIBLE_FALL, rs.seen_event, causes,
                                 clauses, rs.seen_room, now)  # only its words are new
        return
    ask_at = max(_met_since(resident, rs, days, room, seen, up_at_night, now, early),
                 returned_by)
    alarm_at = max(_met_since(resident, rs, days, room, seen, up_at_night, now, False),
                   returned_by)
    local_check.ask_or_raise(ctx, resident, rs, POSSIBLE_FALL, rs.seen_event, causes,
                             clauses, rs.seen_room, ask_at, alarm_at)


def _met_since(resident: Resident, rs: ResidentState, days: LocalDays, room: str, seen: float,
               night: bool, now: float, check: bool) -> float:
    """The moment a stillness since ``seen`` first reached its check point (``check``) or its
    alarm point, met at ``now``: a function of the state, never of when ticks ran (a replay
    that ticks only at events decides a check as live ticking did). The limits are each
    hour's, so it walks back hour by hour while the limit was met before that hour began."""
    def point(t: float) -> float:
        bound = routine.stillness_bound(resident, rs.routine, days, room, t, night)
        return bound.check if check and bound.check is not None else bound.limit

    began = days.hour_of(now)[2] - 3600.0
    met = max(seen + point(now), began)
    for _ in range(24):
        if began <= seen or began - seen < point(began - 1.0):
            break  # not met before this hour: first met within it
        met = max(seen + point(began - 1.0), began - 3600.0)
        began -= 3600.0
    return met
