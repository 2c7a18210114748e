"""The rules engine: ``step(state, event or tick, now) -> (state, actions)``.

Pure: no clock, database or network. The shell feeds it stored events as they are committed and
a :class:`Tick` every few seconds; every timer is a deadline computed from the state, and a tick
fires all deadlines at or before ``now``. Hence one tick late is the same as many ticks on time,
and replaying the stored events -- a tick at each event's time, then the event -- rebuilds the
same state and the same alarm ids after a restart (:func:`replay`).

``step`` updates the state it is given in place and returns it: replaying a resident-year must
run at 100,000 events/s, which copying the state on every event would not allow. Callers that
need the old state keep a ``copy.deepcopy``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from . import (
    alarm_book,
    assistance,
    device_order,
    device_supervision,
    inactivity,
    local_check,
    medication,
    possible_fall,
    presence,
    smoke,
)
from .context import Context
from .local_time import LocalDays
from .model import (
    HUB_ALARM_ACKNOWLEDGED,
    HUB_AWAY_OFF,
    HUB_AWAY_ON,
    HUB_BROKER_BACK,
    HUB_BROKER_LOST,
    HUB_REJECTED_FRAMES,
    HUB_REJECTED_FRAMES_CLEAR,
    HUB_RESOLVE_ALARM,
    Action,
    Event,
    Layout,
    ResidentState,
    RulesConfig,
    State,
    Tick,
)
from .resident import Resident

# A frame delivered from a device's outbox after an outage carries the device's clock: the
# rules use that as the time it happened, if it is plausible (up to a day old, at least this
# many seconds before it arrived: closer than that is ordinary delay, and the hub's clock is the
# reference).
LATE_DELIVERY_S = 30.0
MAX_BACKDATE_S = 86400.0

_generations = itertools.count()

_MEDICATION_EVENTS = frozenset(("dose_due", "dose_taken", "dose_missed", "dispenser_jam",
                                "dispenser_empty", "stock_low"))
_SUPERVISION_EVENTS = frozenset(("tamper", "smoke_fault", "fault_clear"))


def occurred_at(ev: Event) -> float:
    t = ev.received_at
    device_time = ev.device_time
    if device_time is not None and t - MAX_BACKDATE_S <= device_time < t - LATE_DELIVERY_S:
        return float(device_time)
    return t


class RulesEngine:
    """Holds the configuration and per-zone calendars (caches, not state)."""

    def __init__(self, config: RulesConfig) -> None:
        self.config = config
        self._days: dict[str, LocalDays] = {}
        self.generation = next(_generations)
        self._layouts = {
            rid: Layout(
                has_motion=any(d.role == "motion" for d in mine),
                has_bed=any(d.role == "bed" for d in mine),
                bed_room=next((d.room for d in mine if d.role == "bed"), None),
                prompt_devices=tuple(sorted(d.device_id for d in mine if d.prompts)))
            for rid in config.residents
            for mine in [[d for d in config.devices.values() if d.resident_id == rid]]}

    def step(self, state: State, item: Event | Tick, now: float) -> tuple[State, list[Action]]:
        ctx = Context(self.config, state, now, self._days, self.generation, self._layouts)
        if isinstance(item, Tick):
            _tick(ctx)
        else:
            _event(ctx, item)
        return state, ctx.actions


def _tick(ctx: Context) -> None:
    state = ctx.state
    for resident in ctx.config.residents.values():
        rs = state.resident(resident.id)
        presence.on_tick(ctx, resident, rs)
        possible_fall.on_tick(ctx, resident, rs)
        inactivity.on_tick(ctx, resident, rs)
        medication.on_tick(ctx, resident, rs)
        local_check.on_tick(ctx, resident, rs)
    device_supervision.on_tick(ctx)


def _event(ctx: Context, ev: Event) -> None:
    state = ctx.state
    if ev.id > state.last_event_id:
        state.last_event_id = ev.id
    if ev.type == "hub":
        _hub_event(ctx, ev)
        return
    device = ctx.config.devices.get(ev.device_id or "")
    if device is None:
        return  # a device removed since: its events no longer concern anyone
    resident = ctx.config.residents.get(device.resident_id)
    if resident is None:
        return
    at = occurred_at(ev)
    device_supervision.on_frame(ctx, device, ev, at)
    rs = state.resident(resident.id)
    if ev.type == "heartbeat":
        device_supervision.on_heartbeat(ctx, resident, device, ev)
        if device.role == "dispenser":
            medication.on_heartbeat(ctx, resident, device, ev)
        elif device.role == "motion" and device_order.current(
                state, device.device_id, device_order.TRIGGERS, ev.seq):
            seen = rs.seen_event
            presence.on_motion_heartbeat(ctx, resident, rs, device, ev, at)
            if rs.seen_event != seen:
                _signed(ctx, resident, rs, device.room, "moving in another room")
        return
    if ev.type != "event":
        return
    name = ev.name
    if name == "motion":
        presence.on_motion(ctx, resident, rs, device, ev, at)
        _signed(ctx, resident, rs, device.room, "moving in another room")
    elif name == "bed_in" or name == "bed_out":
        if device_order.current(state, device.device_id, device_order.BED, ev.seq):
            presence.on_bed(ctx, resident, rs, device, ev, at)
            if name == "bed_in":
                possible_fall.on_bed_in(ctx, resident)
            else:
                inactivity.on_bed_out(ctx, resident)
        else:
            presence.activity(ctx, resident, rs, ev, at, device.room)  # history
        _signed(ctx, resident, rs, device.room, "moving in another room")
    elif name == "door_open" or name == "door_close":
        if device_order.current(state, device.device_id, device_order.DOOR, ev.seq):
            presence.on_door(ctx, resident, rs, device, ev, at)
        else:
            presence.activity(ctx, resident, rs, ev, at, device.room)
        _signed(ctx, resident, rs, None, "the entrance door was used")
    elif name == "smoke_alarm" or name == "smoke_clear":
        smoke.on_event(ctx, device, ev)
    elif name in _MEDICATION_EVENTS:
        medication.on_event(ctx, resident, rs, device, ev, at)
        if name == "dose_taken":
            presence.activity(ctx, resident, rs, ev, at, device.room)
            _signed(ctx, resident, rs, None, "dose taken")
    elif name in _SUPERVISION_EVENTS:
        device_supervision.on_event(ctx, device, ev)
    elif name == "cancel":
        assistance.on_cancel(ctx, device, ev)
    elif name == "button" and local_check.on_button(ctx, resident, rs, device, at):
        # The answer to a check: no call for help, but a sign of life that ends the episode,
        # at the device (a call point's room; a worn button has none). The routine learns the
        # quiet spell as if it went on, in its room (she pressed because she was asked).
        spell_from = rs.spell_from if rs.spell_from is not None else rs.seen_at
        spell_room = rs.spell_room if rs.spell_from is not None else rs.seen_room
        presence.activity(ctx, resident, rs, ev, at, device.room)
        rs.spell_from, rs.spell_room = spell_from, spell_room
        _signed(ctx, resident, rs, None, "answered a check")
    elif name == "button" or name == "fall":
        assistance.on_event(ctx, device, ev)
        if name == "button":
            presence.activity(ctx, resident, rs, ev, at, device.room)
            _signed(ctx, resident, rs, None, "button pressed")


def _signed(ctx: Context, resident: Resident, rs: ResidentState, room: str | None,
            why: str) -> None:
    """A sign of life arrived: the stillness alarms (and waiting checks) it ends are
    resolved."""
    if not ctx.state.open_alarms and not rs.checks:
        return
    possible_fall.on_sign_of_life(ctx, resident, room, why)
    if not rs.away:
        inactivity.on_sign_of_life(ctx, resident)


def _hub_event(ctx: Context, ev: Event) -> None:
    name = ev.name
    at = ev.received_at
    if name in (HUB_AWAY_ON, HUB_AWAY_OFF):
        if ev.resident_id in ctx.config.residents:
            resident = ctx.config.residents[ev.resident_id]
            rs = ctx.state.resident(resident.id)
            presence.set_away(ctx, resident, rs, ev, at, name == HUB_AWAY_ON)
    elif name == HUB_RESOLVE_ALARM:
        alarm_book.resolve_by_id(ctx, str(ev.body.get("alarm_id")), "closed by a person")
    elif name == HUB_ALARM_ACKNOWLEDGED:
        alarm_book.mark_acknowledged(ctx, str(ev.body.get("alarm_id")))
    elif name in (HUB_REJECTED_FRAMES, HUB_REJECTED_FRAMES_CLEAR):
        device = ctx.config.devices.get(str(ev.body.get("device")))
        if device is not None:
            device_supervision.on_hub_event(ctx, device, ev)
    elif name in (HUB_BROKER_LOST, HUB_BROKER_BACK):
        device_supervision.on_broker(ctx, ev, lost=name == HUB_BROKER_LOST)


def replay(engine: RulesEngine, state: State, events: Iterable[Event],
           until: float | None = None) -> Iterator[Action]:
    """Feed stored events in order, each preceded by a tick at its time; then tick at
    ``until``. Yields every action, as live operation would have produced them."""
    tick = Tick()
    step = engine.step
    for ev in events:
        _, actions = step(state, tick, ev.received_at)
        yield from actions
        _, actions = step(state, ev, ev.received_at)
        yield from actions
    if until is not None:
        _, actions = step(state, tick, until)
        yield from actions
