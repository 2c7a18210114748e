"""Presence: the last sign of life at home, and whether the resident is away.

Activity is anything a person at home causes: motion, the bed, the entrance door, a dose taken,
a button. "Away" is inferred only from the entrance door -- it opened and closed, and then no
motion inside for ``away_confirm_min`` while the bed is empty -- or set by command. Never from
silence alone: silence is also what a fall looks like (issue 4). Motion inside or getting into
bed ends an inferred absence and re-arms the inactivity rules; a commanded absence lasts until
the ``away_off`` command (a carer visiting an empty flat must not end a hospital stay).
"""

from __future__ import annotations

from .context import Context
from .model import Event, ResidentState
from .resident import Resident


def activity(rs: ResidentState, ev: Event, at: float, bathroom_motion: bool = False) -> None:
    if rs.last_activity_at is None or at >= rs.last_activity_at:
        rs.last_activity_at = at
        rs.last_activity_event = ev.id
        rs.last_activity_is_bathroom_motion = bathroom_motion


def on_motion(ctx: Context, resident: Resident, rs: ResidentState, ev: Event, at: float,
              room: str | None) -> None:
    activity(rs, ev, at, room is not None and room in resident.bathroom_rooms)
    if rs.last_motion_at is None or at >= rs.last_motion_at:
        rs.last_motion_at = at
        rs.last_motion_event = ev.id
        rs.last_motion_room = room
    grace = resident.thresholds.away_grace_s
    if rs.door_closed_at is not None and at > rs.door_closed_at + grace:
        rs.door_closed_at = None  # someone is inside: not leaving
    if rs.away and not rs.away_by_command and at > rs.away_since:
        come_home(rs)


def on_door(rs: ResidentState, ev: Event, at: float) -> None:
    activity(rs, ev, at)
    if ev.name == "door_close":
        rs.door_closed_at = at
        rs.door_closed_event = ev.id
    else:
        rs.door_closed_at = None


def on_bed(rs: ResidentState, ev: Event, at: float) -> None:
    activity(rs, ev, at)
    if ev.name == "bed_in":
        rs.door_closed_at = None
        if rs.away and not rs.away_by_command:
            come_home(rs)


def come_home(rs: ResidentState) -> None:
    rs.away = False
    rs.away_by_command = False
    # The return is the new reference for the inactivity rules.
    rs.door_closed_at = None


def set_away(rs: ResidentState, ev: Event, at: float, away: bool) -> None:
    if away:
        rs.away = True
        rs.away_by_command = True
        rs.away_event = ev.id
        rs.away_since = at
    else:
        come_home(rs)
        activity(rs, ev, at)


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if rs.door_closed_at is None or rs.away:
        return
    due = rs.door_closed_at + resident.thresholds.away_confirm_min * 60.0
    if ctx.now >= due:
        if rs.in_bed:
            rs.door_closed_at = None
            return
        rs.away = True
        rs.away_by_command = False
        rs.away_event = rs.door_closed_event
        rs.away_since = due
        rs.door_closed_at = None
