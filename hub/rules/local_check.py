"""Local checks: ask the resident before calling the centre about a doubtful condition.

A care condition the rules infer from silence -- stillness (``possible_fall``), not up, not in
bed, not back as usual (``inactivity``) -- is doubtful: most such alarms find the resident well.
Where her home has a device that can prompt her (a call point's light and buzzer; any role whose
description says ``prompts``), the condition first becomes a :class:`LocalCheck`: the devices
prompt, and a press of one of their buttons within ``check_window_min`` answers. The answer ends
the episode without an alarm and is a sign of life. Without an answer she is asked again,
``check_reasks`` times (each prompt with its own window: most unanswered prompts were not
heard), and then the alarm goes to the centre, its text saying when she was first asked
("asked 14:02 (2x), no answer in 4 min", or without the window where the centre's 80
characters do not allow it).

What never waits: fire, a call for help, a fall a device detected (they do not pass through
here), and any condition in a home without a prompting device (exactly the rules as before).

A check also ends, without an alarm, the way its alarm would be resolved: a stillness by a
sign of life in another room, the bed or the door; not up by leaving the bed; the others by
any activity at home. A press while a check waits is the answer, not a call for help: the
check ends with it, so a second press is a call for help as usual. The rules ask early (at a
stillness's check point) at most ``check_max_per_hour`` times in any hour; a condition met above
that bound is asked about only at its ordinary alarm point, and goes to the centre if that
prompt is not answered either.

Replayable: when a check begins and until when she may answer are computed from the state (the
moment the condition was met), never from when a tick happened to run, so replaying the stored
events -- the answer among them -- decides every check as live operation did.
"""

from __future__ import annotations

from . import alarm_book, texts
from .context import Context
from .model import (
    CHECK_ANSWERED,
    CHECK_ENDED,
    CHECK_NO_ANSWER,
    INACTIVITY,
    NOT_UP,
    POSSIBLE_FALL,
    DeviceInfo,
    LocalCheck,
    LocalCheckEnded,
    PendingCheck,
    ResidentState,
)
from .resident import Resident

DOUBTFUL_KINDS = frozenset((POSSIBLE_FALL, INACTIVITY, NOT_UP))
# An answered check is remembered this long (so the same episode is not asked again, e.g. a
# long stay in bed she said was fine); older ones are forgotten when a new check begins.
_KEEP_ANSWERED_S = 2 * 86400.0
_HOUR_S = 3600.0


def handled(rs: ResidentState, alarm_id: str) -> bool:
    """Whether a check stands for ``alarm_id`` (waiting or answered)."""
    return alarm_id in rs.checks


def decided(ctx: Context, rs: ResidentState, alarm_id: str) -> bool:
    """Whether ``alarm_id`` was raised or has its check (the rule need not work out when its
    condition was met again)."""
    return alarm_id in ctx.state.raised or alarm_id in rs.checks


def ask_or_raise(ctx: Context, resident: Resident, rs: ResidentState, kind: str, episode: int,
                 causes: tuple[int, ...], clauses: tuple[str, ...], room: str | None,
                 ask_at: float, alarm_at: float | None = None) -> None:
    """A doubtful condition of ``kind`` is met (since ``ask_at``; its alarm is due at
    ``alarm_at``, by default the same moment). Ask the resident if her home can and the bound
    allows; else raise the alarm once it is due. Called on every tick while the condition
    lasts: a waiting check takes the latest ``clauses`` for its alarm's text."""
    state = ctx.state
    alarm_id = f"{kind}-{resident.id}-{episode}"
    if alarm_id in state.raised:
        return
    check = rs.checks.get(alarm_id)
    if check is not None:
        if check.answered_at is None:
            check.clauses = clauses
        return
    due = ask_at if alarm_at is None else alarm_at
    devices = ctx.layout(resident.id).prompt_devices
    if not devices or kind not in DOUBTFUL_KINDS:
        if ctx.now >= due:
            _raise(ctx, resident, kind, episode, causes, clauses, room)
        return
    t = resident.thresholds
    recent = [p for p in rs.prompts if p > ask_at - _HOUR_S]
    if len(recent) >= t.check_max_per_hour:
        # Asked enough this hour, and she answered every time (an unanswered prompt went to
        # the centre): no early prompt, but at the alarm point she is asked before the centre
        # is called -- a prompt costs her a press, a needless call costs the centre's trust.
        if ctx.now < due:
            return
        ask_at = due
    answer_by = ask_at + t.check_window_min * 60.0
    if ctx.now >= answer_by:
        # Too late to ask (the hub was not running when it was due): the centre, now.
        if ctx.now >= due:
            when = texts.clock(ctx.local_days(resident), ask_at)
            _raise(ctx, resident, kind, episode, causes,
                   _with(clauses, f"not asked (due {when})"), room)
        return
    for old in [k for k, c in rs.checks.items()
                if c.answered_at is not None and c.asked_at < ask_at - _KEEP_ANSWERED_S]:
        del rs.checks[old]
    rs.prompts = [*recent, ask_at]
    rs.checks[alarm_id] = PendingCheck(alarm_id, kind, episode, causes, clauses, room, ask_at,
                                       answer_by)
    ctx.actions.append(LocalCheck(alarm_id, kind, resident.id, devices, texts.fit(*clauses),
                                  tuple(sorted({c for c in causes if c > 0})), ask_at,
                                  answer_by, ctx.now))


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    """Checks not answered in time are asked again (``check_reasks``), then go to the
    centre. A repeat begins when the last prompt's window ended (not when a tick ran), so a
    replay asks as live operation did."""
    if not rs.checks:
        return
    now = ctx.now
    t = resident.thresholds
    window = t.check_window_min * 60.0
    for check in [c for c in rs.checks.values() if c.answered_at is None and now >= c.answer_by]:
        while check.attempt <= t.check_reasks and now >= check.answer_by:
            check.attempt += 1
            again = check.answer_by
            check.answer_by = again + window
            if now < check.answer_by:
                ctx.actions.append(LocalCheck(
                    check.check_id, check.kind, resident.id,
                    ctx.layout(resident.id).prompt_devices, texts.fit(*check.clauses),
                    tuple(sorted({c for c in check.causes if c > 0})), again,
                    check.answer_by, now, check.attempt))
        if now < check.answer_by:
            continue
        del rs.checks[check.check_id]
        minutes = texts.duration(check.answer_by - check.asked_at)
        when = texts.clock(ctx.local_days(resident), check.asked_at)
        times = f" ({check.attempt}x)" if check.attempt > 1 else ""
        asked = f"asked {when}{times}, no answer"
        long = f"{asked} in {minutes}"
        note = long if len(check.clauses[0]) + 2 + len(long) <= texts.DESCRIPTION_MAX else asked
        devices = ctx.layout(resident.id).prompt_devices
        ctx.actions.append(LocalCheckEnded(check.check_id, resident.id, devices,
                                           CHECK_NO_ANSWER, f"no answer in {minutes}", now))
        _raise(ctx, resident, check.kind, check.episode, check.causes,
               _with(check.clauses, note), check.room)


def on_button(ctx: Context, resident: Resident, rs: ResidentState, device: DeviceInfo,
              at: float) -> bool:
    """A press on ``device`` at ``at``: True when it answered a waiting check (then it is no
    call for help)."""
    if not device.prompts or not rs.checks:
        return False
    waiting = [c for c in rs.checks.values() if c.answered_at is None and at < c.answer_by]
    if not waiting:
        return False
    where = f" ({device.room})" if device.room else ""
    when = texts.clock(ctx.local_days(resident), at)
    for check in waiting:
        check.answered_at = at
        ctx.actions.append(LocalCheckEnded(check.check_id, resident.id,
                                           ctx.layout(resident.id).prompt_devices,
                                           CHECK_ANSWERED, f"answered at {when}{where}",
                                           ctx.now))
    return True


def end(ctx: Context, resident: Resident, kind: str, reason: str,
        room: str | None = None) -> None:
    """The condition behind waiting checks of ``kind`` ended as it would resolve their alarm
    (``room``: a sign of life there; a stillness check keeps waiting for one in its own room,
    which may be someone moving on the floor)."""
    rs = ctx.state.residents.get(resident.id)
    if rs is None or not rs.checks:
        return
    for check in rs.checks.values():
        if check.kind != kind or check.answered_at is not None:
            continue
        if room is not None and check.room is not None and room == check.room:
            continue
        check.answered_at = ctx.now
        ctx.actions.append(LocalCheckEnded(check.check_id, resident.id,
                                           ctx.layout(resident.id).prompt_devices,
                                           CHECK_ENDED, reason, ctx.now))


def _with(clauses: tuple[str, ...], note: str) -> tuple[str, ...]:
    """The alarm's clauses with ``note`` second: after what happened, before what is usual."""
    return (clauses[0], note, *clauses[1:])


def _raise(ctx: Context, resident: Resident, kind: str, episode: int, causes: tuple[int, ...],
           clauses: tuple[str, ...], room: str | None) -> None:
    alarm_book.raise_alarm(ctx, kind, resident.id, resident.id, None, episode, causes,
                           texts.fit(*clauses), room)
