"""Open alarms, and one alarm per episode.

An alarm's id is ``<kind>-<subject>-<episode>``, where the episode is the id of the stored
event that started the condition (the last sign of life before a stillness, the smoke alarm,
the bed stay). Replaying the same events therefore yields the same ids, which is how the shell
recognises, after a restart, an alarm it has already stored and forwarded. An episode is raised
at most once, even after a person closed its alarm while the condition lasted.

Technical notices and a device's fire alarm are one condition per device: while one is open, the
same kind for the same device adds nothing. The care alarms (``NEW_EPISODE_KINDS``) are raised
for every new episode even while an earlier one is open: a false possible-fall alarm that
nobody closed must never swallow a real fall hours later.
"""

from __future__ import annotations

from .context import Context
from .model import INACTIVITY, NOT_UP, POSSIBLE_FALL, PRIORITY, OpenAlarm, RaiseAlarm, ResolveAlarm

NEW_EPISODE_KINDS = frozenset((POSSIBLE_FALL, INACTIVITY, NOT_UP))


def open_alarms(ctx: Context, kind: str, subject: str) -> list[OpenAlarm]:
    return [a for a in ctx.state.open_alarms.values()
            if a.kind == kind and a.subject == subject]


def is_open(ctx: Context, kind: str, subject: str) -> bool:
    return any(a.kind == kind and a.subject == subject
               for a in ctx.state.open_alarms.values())


def raise_alarm(ctx: Context, kind: str, subject: str, resident_id: str, device_id: str | None,
                episode: int, causes: tuple[int, ...], description: str,
                room: str | None = None) -> bool:
    """Raise unless this episode already had its alarm, or (for kinds outside
    ``NEW_EPISODE_KINDS``) an alarm of this kind is open for ``subject``. Returns True when
    raised."""
    state = ctx.state
    alarm_id = f"{kind}-{subject}-{episode}"
    if alarm_id in state.raised:
        return False
    if kind not in NEW_EPISODE_KINDS and is_open(ctx, kind, subject):
        return False
    state.open_alarms[alarm_id] = OpenAlarm(alarm_id, kind, subject, resident_id, device_id,
                                            room)
    state.raised.add(alarm_id)
    ctx.actions.append(RaiseAlarm(alarm_id, kind, PRIORITY[kind], resident_id, device_id,
                                  description, tuple(sorted({c for c in causes if c > 0})),
                                  ctx.now))
    return True


def resolve(ctx: Context, alarm: OpenAlarm, reason: str) -> None:
    del ctx.state.open_alarms[alarm.alarm_id]
    ctx.actions.append(ResolveAlarm(alarm.alarm_id, alarm.kind, alarm.resident_id,
                                    alarm.device_id, reason, ctx.now))


def resolve_alarm(ctx: Context, kind: str, subject: str, reason: str) -> bool:
    """Resolve every open alarm of ``kind`` for ``subject``: its condition has ended."""
    if not ctx.state.open_alarms:
        return False
    found = open_alarms(ctx, kind, subject)
    for alarm in found:
        resolve(ctx, alarm, reason)
    return bool(found)


def resolve_by_id(ctx: Context, alarm_id: str, reason: str) -> bool:
    alarm = ctx.state.open_alarms.get(alarm_id)
    if alarm is None:
        return False
    resolve(ctx, alarm, reason)
    return True


def mark_acknowledged(ctx: Context, alarm_id: str) -> None:
    alarm = ctx.state.open_alarms.get(alarm_id)
    if alarm is not None:
        alarm.acknowledged = True
