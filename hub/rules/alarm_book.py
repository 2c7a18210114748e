"""One open alarm per kind and resident or device, and one alarm per episode.

An alarm's id is ``<kind>-<subject>-<episode>``, where the episode is the id of the stored
event that started the condition (the bed exit, the last motion, the smoke alarm). Replaying
the same events therefore yields the same ids, which is how the shell recognises, after a
restart, an alarm it has already stored and forwarded.
"""

from __future__ import annotations

from .context import Context
from .model import PRIORITY, OpenAlarm, RaiseAlarm, ResolveAlarm


def is_open(ctx: Context, kind: str, subject: str) -> bool:
    return (kind, subject) in ctx.state.open_alarms


def raise_alarm(ctx: Context, kind: str, subject: str, resident_id: str, device_id: str | None,
                episode: int, causes: tuple[int, ...], description: str,
                room: str | None = None) -> bool:
    """Raise unless an alarm of this kind is open for ``subject`` or this episode already had
    one. Returns True when raised."""
    key = (kind, subject)
    state = ctx.state
    if key in state.open_alarms or state.last_cause.get(key) == episode:
        return False
    alarm_id = f"{kind}-{subject}-{episode}"
    state.open_alarms[key] = OpenAlarm(alarm_id, kind, resident_id, device_id, room)
    state.last_cause[key] = episode
    ctx.actions.append(RaiseAlarm(alarm_id, kind, PRIORITY[kind], resident_id, device_id,
                                  description, tuple(sorted({c for c in causes if c > 0})),
                                  ctx.now))
    return True


def resolve_alarm(ctx: Context, kind: str, subject: str, reason: str) -> bool:
    alarm = ctx.state.open_alarms.pop((kind, subject), None)
    if alarm is None:
        return False
    ctx.actions.append(ResolveAlarm(alarm.alarm_id, kind, alarm.resident_id, alarm.device_id,
                                    reason, ctx.now))
    return True


def resolve_by_id(ctx: Context, alarm_id: str, reason: str) -> bool:
    for key, alarm in ctx.state.open_alarms.items():
        if alarm.alarm_id == alarm_id:
            return resolve_alarm(ctx, key[0], key[1], reason)
    return False


def mark_acknowledged(ctx: Context, alarm_id: str) -> None:
    for alarm in ctx.state.open_alarms.values():
        if alarm.alarm_id == alarm_id:
            alarm.acknowledged = True
