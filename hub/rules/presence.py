"""Presence: the last sign of life at home, the bed, and whether the resident is away.

Signs of life are anything a person at home causes: motion, the triggers a motion unit counted
but has not reported yet (its heartbeat's count beyond its motion events), the bed, the entrance
door, a dose taken, a button. Each ends the quiet spell before it, which the routine learns
from (``routine.record_spell``).

Away is inferred from positive evidence only. The door opens while she is home and closes: that
may be a departure. It is one when no sign of life inside follows for ``away_confirm_min`` with
the bed empty; any sign of life that is certainly later than the close -- motion within seconds
of it included -- means she stayed. A motion report may stand for movement seen up to the unit's
hold-off before it was sent, so a report from another room that comes within the hold-off of the
close and of that unit's previous report is not taken as certain; the door's own unit reports
the movement it saw before the door moved ahead of the door event (firmware/roles/motion.py),
so all its later reports are certain.

An inferred absence ends with any sign of life at all -- motion, a trigger count, a door edge,
the bed -- and is never silent for ever: an absence longer than her usual outings raises a check
(``inactivity.py``). A door that opens while she is away (or has just gone out) is an arrival:
the close that follows is not a departure. A commanded absence (``trygg hub away on``: hospital,
holiday) lasts until ``away_off``: a carer visiting an empty flat must not end it.

A bed exit that no motion confirms -- nothing within ``bed_exit_confirm_s`` before or after it
-- is doubtful: a pressure mat can lose a still sleeper. Until motion outside the bed's room (or
right after the exit) confirms it, she counts as still in bed: the stillness rule waits, and the
in-bed rules (not up, a long daytime stay) keep watching.
"""

from __future__ import annotations

from . import routine
from .context import Context
from .local_time import window_containing
from .model import DeviceInfo, Event, ResidentState
from .resident import Resident

# A trailing motion report reaches the hub within this of the end of the unit's hold-off
# (delivery on a healthy link; LATE_DELIVERY_S in engine.py is the same allowance).
_DELIVERY_S = 30.0


def in_bed(rs: ResidentState) -> bool:
    """In bed as far as the rules can tell: on the mat, or off it without a confirmed exit."""
    return bool(rs.in_bed) or rs.exit_doubtful


def sign_of_life(ctx: Context, resident: Resident, rs: ResidentState, ev_id: int, at: float,
                 room: str | None, inside: bool | None = None) -> None:
    """Someone at home at ``at`` in ``room``. ``inside``: whether it was certainly after the
    last door close (so she did not leave through it); by default, whether ``at`` is."""
    seen = rs.seen_at
    # A spell an answer to a local check cut is learned whole, in its room (local_check.py).
    begun, where = seen, rs.seen_room
    if rs.spell_from is not None and seen is not None:
        begun, where = min(seen, rs.spell_from), rs.spell_room or rs.seen_room
    if begun is not None and at > begun and where is not None and not rs.away \
            and not in_bed(rs):
        routine.record_spell(rs.routine, ctx.local_days(resident), where, begun, at,
                             int(resident.thresholds.learn_days) + 2)
    rs.spell_from = rs.spell_room = None
    if seen is None or at >= seen:
        rs.seen_at = at
        rs.seen_event = ev_id
        if room is not None:
            rs.seen_room = room
    if rs.leaving_at is not None and (at > rs.leaving_at if inside is None else inside):
        rs.leaving_at = None  # she stayed
    if rs.away and not rs.away_by_command and (at > rs.away_since if inside is None
                                               else inside):
        come_home(ctx, resident, rs, max(at, rs.away_since))


def _certain_after(ctx: Context, resident: Resident, rs: ResidentState, device: DeviceInfo,
                   ev: Event, at: float, previous_report: float | None) -> bool:
    """Whether motion reported by ``device`` at ``at`` was seen after the door closed."""
    closed = rs.leaving_at if rs.leaving_at is not None else (
        rs.away_since if rs.away and not rs.away_by_command else None)
    if closed is None:
        return True
    if at <= closed:
        return False
    if device.device_id == rs.leaving_device and ev.seq is not None \
            and rs.leaving_seq is not None:
        return ev.seq > rs.leaving_seq  # the door's own unit: its order is the truth
    holdoff = resident.thresholds.motion_holdoff_s + _DELIVERY_S
    if at > closed + holdoff:
        return True  # any report held back before the close would have come by now
    return previous_report is None or previous_report >= closed or at - previous_report > holdoff


def on_motion(ctx: Context, resident: Resident, rs: ResidentState, device: DeviceInfo,
              ev: Event, at: float) -> None:
    ds = ctx.state.device(device.device_id)
    previous = ds.motion_report_at
    if previous is None or at > previous:
        ds.motion_report_at = at
    ds.motion_reported += ev.value if ev.value is not None and ev.value > 0 else 1
    inside = _certain_after(ctx, resident, rs, device, ev, at, previous)
    # A report within a hold-off (and delivery) of the unit's previous one may be the count of
    # a hold-off: movement at some moment after that previous report, not now. Placed at the
    # earliest such moment, it never makes a stillness look shorter, nor moves her back into
    # a room she left before another unit saw her elsewhere.
    seen = at
    if previous is not None and at - previous <= resident.thresholds.motion_holdoff_s \
            + _DELIVERY_S:
        seen = previous
    _confirm_exit(ctx, resident, rs, device.room, seen)
    if rs.last_motion_at is None or seen > rs.last_motion_at:
        rs.last_motion_at = seen
    sign_of_life(ctx, resident, rs, ev.id, seen, device.room, inside)


def on_motion_heartbeat(ctx: Context, resident: Resident, rs: ResidentState,
                        device: DeviceInfo, ev: Event, at: float) -> None:
    """A motion unit's heartbeat: triggers beyond those its motion events stood for since the
    last heartbeat are movement it has not reported (yet) -- in its room, at some moment after
    both its last motion report and the previous heartbeat. The earliest such moment is taken,
    so a trigger count never makes a stillness look shorter than it was."""
    ds = ctx.state.device(device.device_id)
    triggers = ev.body.get("triggers")
    previous = ds.heartbeat_at
    unreported = triggers - ds.motion_reported if isinstance(triggers, int) else 0
    ds.heartbeat_at = at
    ds.motion_reported = 0
    if unreported <= 0 or previous is None:
        return
    since = previous if ds.motion_report_at is None else max(previous, ds.motion_report_at)
    _confirm_exit(ctx, resident, rs, device.room, since)
    closed = rs.leaving_at if rs.leaving_at is not None else (
        rs.away_since if rs.away and not rs.away_by_command else None)
    sign_of_life(ctx, resident, rs, ev.id, since, device.room, since > closed
                 if closed is not None else None)


def _confirm_exit(ctx: Context, resident: Resident, rs: ResidentState, room: str | None,
                  at: float) -> None:
    if not rs.exit_doubtful or rs.exit_at is None:
        return
    near_exit = at <= rs.exit_at + resident.thresholds.bed_exit_confirm_s
    if near_exit or (room is not None and room != ctx.layout(resident.id).bed_room):
        rs.exit_doubtful = False


def on_door(ctx: Context, resident: Resident, rs: ResidentState, device: DeviceInfo,
            ev: Event, at: float) -> None:
    if ev.name == "door_open":
        # Opened while the home was empty, or while a departure was still unconfirmed: she
        # (or someone with a key) is coming in, and the close that follows is no departure.
        rs.door_arrival = (rs.away and not rs.away_by_command) or rs.leaving_at is not None
        sign_of_life(ctx, resident, rs, ev.id, at, device.room)
        return
    sign_of_life(ctx, resident, rs, ev.id, at, device.room)
    if rs.door_arrival:
        rs.door_arrival = False
        return
    rs.leaving_at = at
    rs.leaving_event = ev.id
    rs.leaving_device = device.device_id
    rs.leaving_seq = ev.seq


def on_bed(ctx: Context, resident: Resident, rs: ResidentState, device: DeviceInfo,
           ev: Event, at: float) -> None:
    days = ctx.local_days(resident)
    if ev.name == "bed_in":
        sign_of_life(ctx, resident, rs, ev.id, at, device.room)
        rs.in_bed = True
        rs.exit_doubtful = False
        rs.leaving_at = None
        if rs.away and not rs.away_by_command:
            come_home(ctx, resident, rs, at)
        night = _night_sleep(ctx, resident, rs, at)  # before the new stay replaces the last
        rs.stay_start = at
        rs.stay_event = ev.id
        rs.stay_night = False
        if night:
            _begin_night(ctx, resident, rs)
        return
    if rs.stay_start is not None and rs.in_bed:
        if rs.stay_night:
            day = days.day_of(at)
            routine.record_longest(rs.routine.rises, rs.routine, day,
                                   days.seconds_after(at, day, 0))
        else:
            routine.record_longest(rs.routine.naps, rs.routine, days.day_of(rs.stay_start),
                                   at - rs.stay_start)
    rs.in_bed = False
    rs.exit_at = at
    rs.exit_event = ev.id
    confirm = resident.thresholds.bed_exit_confirm_s
    has_motion = ctx.layout(resident.id).has_motion
    rs.exit_doubtful = has_motion and (rs.last_motion_at is None
                                       or rs.last_motion_at < at - confirm)
    sign_of_life(ctx, resident, rs, ev.id, at, device.room)


def _night_sleep(ctx: Context, resident: Resident, rs: ResidentState, at: float) -> bool:
    """Whether a bed stay begun at ``at`` is the night's sleep rather than a nap: it began in
    the night window; or within ``rise_margin_min`` of getting up from the night's sleep (back
    to bed after an early toilet visit); or no earlier in the evening than her earliest bedtime
    of the learning days (less ``rise_margin_min``): an early sleeper's night starts before
    night_start."""
    days = ctx.local_days(resident)
    if window_containing(days, resident.night_start, resident.night_end, at) is not None:
        return True
    margin = resident.thresholds.rise_margin_min * 60.0
    if rs.stay_night and rs.exit_at is not None and at - rs.exit_at <= margin:
        return True  # back to bed soon after getting up from the night: still the night
    evening = days.day_of(at - 43200.0)
    earliest = routine.earliest_bedtime(resident, rs.routine, evening)
    after_noon = days.seconds_after(at, evening, 12)
    return earliest is not None and after_noon >= earliest - margin


def _begin_night(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    """The current bed stay is the night's sleep: its start is the evening's bedtime."""
    start = rs.stay_start
    if start is None:
        return
    days = ctx.local_days(resident)
    rs.stay_night = True
    evening = days.day_of(start - 43200.0)
    routine.record_bedtime(rs.routine, evening, days.seconds_after(start, evening, 12))


def activity(ctx: Context, resident: Resident, rs: ResidentState, ev: Event, at: float,
             room: str | None) -> None:
    """A dose taken, a button, an event resent late: a sign of life, no change of state."""
    sign_of_life(ctx, resident, rs, ev.id, at, room)


def come_home(ctx: Context, resident: Resident, rs: ResidentState, at: float) -> None:
    if not rs.away_by_command:
        days = ctx.local_days(resident)
        routine.record_longest(rs.routine.outings, rs.routine, days.day_of(rs.away_since),
                               at - rs.away_since)
    rs.away = False
    rs.away_by_command = False
    rs.leaving_at = None


def set_away(ctx: Context, resident: Resident, rs: ResidentState, ev: Event, at: float,
             away: bool) -> None:
    if away:
        rs.away = True
        rs.away_by_command = True
        rs.away_event = ev.id
        rs.away_since = at
        rs.leaving_at = None
    else:
        rs.away = False
        rs.away_by_command = False
        rs.leaving_at = None
        sign_of_life(ctx, resident, rs, ev.id, at, None)


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if rs.in_bed and not rs.stay_night and rs.stay_start is not None and window_containing(
            ctx.local_days(resident), resident.night_start, resident.night_end,
            ctx.now) is not None:
        _begin_night(ctx, resident, rs)  # still in bed when the night begins: not a nap
    if rs.leaving_at is None or rs.away:
        return
    due = rs.leaving_at + resident.thresholds.away_confirm_min * 60.0
    if ctx.now >= due:
        if in_bed(rs):
            rs.leaving_at = None
            return
        rs.away = True
        rs.away_by_command = False
        rs.away_event = rs.leaving_event
        rs.away_since = rs.leaving_at
        rs.leaving_at = None
