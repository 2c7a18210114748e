"""Replay a recording through the hub's own rules path, in a temporary store that forwards nothing.

The seam is where ingest hands over: ``trygg hub run`` verifies a frame, stores it with
``Store.store_frames`` and hands the stored rows to ``AlarmDesk.on_events``; every ``tick_s`` it
calls ``AlarmDesk.tick``; hub-made events (away, a person closing an alarm) are stored with
``Store.add_hub_event`` and fed by ``AlarmDesk.poll_hub_events``. The replay makes exactly those
calls, with the hub's clock replaced by the recording's time: the same store schema, event ids,
alarm ids, rules engine and alarm life cycle (raised -> forwarded -> acknowledged -> resolved)
as in a running hub. What it leaves out is transport: frame authentication and the replay
window (a recording is trusted once it has been read) and MQTT.

The store is SQLite in memory and the ARC sink is :class:`ReplayCentre`, which keeps the reports
and acknowledges each raised alarm at once as a centre would; nothing reaches a real centre and
the hub's own database is never opened. Time moves through quiet stretches by ticks every
``tick_s`` (15 s by default), as the service's ticker does, so an alarm is raised at the first
tick at or after its deadline, as live.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..alarms import AlarmDesk
from ..arc.report import AlarmReport
from ..config import HubConfig
from ..rules import LocalCheck, LocalCheckEnded, RaiseAlarm, ResolveAlarm
from ..rules.model import Action
from ..store import NewFrame, Store, StoredEvent
from . import firmware_model
from .recording import DeviceSpec, HubRecord, Recording

# The key a replayed device is paired with: frames are not authenticated in a replay (the
# recording was checked when read), but the devices table requires one.
_REPLAY_KEY = bytes(32)
CENTRE = "replay-centre"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One frame reaching the hub: a device's message at the time it was received."""

    t: float
    device_id: str
    seq: int
    msg: dict[str, Any]


Item = Delivery | HubRecord


def timeline(rec: Recording, after: float = -math.inf) -> list[Item]:
    """Everything the hub receives, in time order: the frames the firmware model makes of each
    observing device's observations, the messages of each sending device (numbered in order
    when the recording gives no sequence numbers) and the hub-made events. With ``after``,
    only what arrives after that instant."""
    start, end = rec.start, rec.end
    items: list[tuple[float, int, Item]] = []
    by_device: dict[str, list[Any]] = {d.device_id: [] for d in rec.devices}
    for o in rec.observations:
        by_device[o.device_id].append(o)
    for m in rec.messages:
        by_device[m.device_id].append(m)
    order = 0
    for device in rec.devices:
        if device.input == "observations":
            frames = firmware_model.frames(device, by_device[device.device_id], start, end,
                                           after)
            for t, seq, msg in frames:
                items.append((t, order, Delivery(t, device.device_id, seq, msg)))
                order += 1
        else:
            sent = sorted(by_device[device.device_id], key=lambda m: m.t)
            for i, m in enumerate(sent):
                if m.t > after:
                    seq = m.seq if m.seq is not None else i
                    items.append((m.t, order, Delivery(m.t, device.device_id, seq, m.msg)))
                    order += 1
    for h in rec.hub_events:
        if h.t > after:
            items.append((h.t, order, h))
            order += 1
    items.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in items]


class ReplayCentre:
    """The ARC forwarder's place in the replay: keeps every report; acknowledges each raised
    alarm at once, as a centre's receiver does (the life cycle then reaches "acknowledged")."""

    def __init__(self, replayer: Replayer) -> None:
        self.replayer = replayer
        self.reports: list[AlarmReport] = []
        self.acks_due: list[str] = []

    async def submit(self, report: AlarmReport) -> None:
        self.reports.append(report)
        if report.event == "raised":
            self.acks_due.append(report.alarm_id)


class _Clock:
    __slots__ = ("t",)

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


@dataclass(frozen=True, slots=True)
class Cause:
    event_id: int
    at: float
    device_id: str | None
    room: str | None
    what: str  # the event name, or the message type (heartbeat, hello)
    value: int | None


@dataclass
class ReplayedAlarm:
    alarm_id: str
    kind: str
    priority: int
    resident_id: str
    device_id: str | None
    room: str | None
    raised_at: float
    description: str
    causes: list[Cause]
    state: str
    resolved_at: float | None = None
    resolved_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OtherAction:
    """An action of the rules that is not an alarm (a local check with the resident, say):
    kept by its class name and fields for the benchmark's separate count."""

    at: float
    type: str
    fields: dict[str, Any]


@dataclass
class ReplayResult:
    start: float
    end: float
    alarms: list[ReplayedAlarm]
    reports: list[AlarmReport]
    other_actions: list[OtherAction]
    frames: int
    hub_events: int
    ticks: int
    settings: list[str] = field(default_factory=list)


class Replayer:
    """A hub's store and alarm desk driven by recorded time. ``feed`` items in time order,
    ``run_until`` an instant; ``fork`` copies the whole hub as it stands (the benchmark
    continues a copy with a fall injected)."""

    def __init__(self, config: HubConfig, devices: Sequence[DeviceSpec], start: float) -> None:
        self.config = config
        self.tick_s = config.tick_s
        self.store = Store(":memory:")
        for d in devices:
            self.store.add_device(d.device_id, _REPLAY_KEY, d.role, d.room, d.resident_id,
                                  d.zone, now=d.paired_at if d.paired_at is not None else start)
            if d.heartbeat_s is not None:
                self.store.set_device_heartbeat(d.device_id, d.heartbeat_s)
        self.resident_of = {d.device_id: d.resident_id for d in devices}
        self.clock = _Clock(start)
        self.centre = ReplayCentre(self)
        self.desk = AlarmDesk(config, self._run_db, self.centre, self.clock.now)
        self.desk.set_devices(self.store.devices())
        self.other_actions: list[OtherAction] = []
        # What the resident does when the rules ask her (a local check): given the check,
        # the frames her answer sends (none: she does not answer). None: nobody answers.
        # Answers are delivered in time order among the recording's own items.
        self.respond: Callable[[LocalCheck], list[Delivery]] | None = None
        self._answers: list[tuple[float, int, Delivery, str]] = []
        self._answer_order = 0
        # Checks whose prompt stopped before her answer came (the check ended another way):
        # their answers are not pressed.
        self._withdrawn: set[str] = set()
        self.resolve_reasons: dict[str, str] = {}  # alarm id -> why the rules resolved it
        self._tap_actions()
        # The service's ticker: the first tick one interval after start.
        self.next_tick = start + self.tick_s
        self.frames = 0
        self.hub_events = 0
        self.ticks = 0

    def _tap_actions(self) -> None:
        """Note the rules' actions that are not alarms. The desk carries out every action as it
        does live (``AlarmDesk._act``); the replay only looks at the list on its way in."""
        desk = self.desk
        desk.__dict__.pop("_act", None)  # a fork's copy of the tap of the original
        act = desk._act
        replayer = self

        async def tapped(actions: list[Any]) -> None:
            action: Any  # the rules may grow actions beyond alarms (a local check)
            for action in actions:
                if isinstance(action, ResolveAlarm):
                    replayer.resolve_reasons.setdefault(action.alarm_id, action.reason)
                elif not isinstance(action, RaiseAlarm):
                    replayer._note(action, replayer.clock.t)
                    if isinstance(action, LocalCheck) and replayer.respond is not None:
                        for answer in replayer.respond(action):
                            replayer._answer_order += 1
                            heapq.heappush(replayer._answers,
                                           (answer.t, replayer._answer_order, answer,
                                            action.check_id))
                    elif isinstance(action, LocalCheckEnded) and not action.answered:
                        replayer._withdrawn.add(action.check_id)
            await act(actions)

        desk._act = tapped  # type: ignore[method-assign]

    def _note(self, action: Action, now: float) -> None:
        fields = {k: getattr(action, k) for k in getattr(action, "__slots__", ())
                  if not k.startswith("_")} or dict(getattr(action, "__dict__", {}))
        self.other_actions.append(OtherAction(float(fields.get("at", now)),
                                              type(action).__name__, fields))

    async def _run_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(self.store, *args)

    async def start(self) -> None:
        """What the service does at start: rebuild the rules from the (empty) store."""
        await self.desk.rebuild()

    async def _settle(self) -> None:
        """Acknowledge raised alarms as the centre would, and let the desk record it."""
        while self.centre.acks_due:
            due, self.centre.acks_due = self.centre.acks_due, []
            for alarm_id in due:
                self.desk.on_delivery(alarm_id, "raised", CENTRE, True, "acknowledged")
            await self.desk.wait_idle()

    async def _tick(self) -> bool:
        """One tick of the service's ticker. Returns False when ``stop`` asked to stop."""
        self.clock.t = self.next_tick
        self.next_tick += self.tick_s
        await self.desk.tick()
        self.ticks += 1
        if self.centre.acks_due:
            await self._settle()
            if self._stop_now():
                return False
        return True

    _stop: Callable[[AlarmReport], bool] | None = None
    _seen_reports = 0

    def _stop_now(self) -> bool:
        if self._stop is None:
            return False
        reports = self.centre.reports
        new = reports[self._seen_reports:]
        self._seen_reports = len(reports)
        return any(r.event == "raised" and self._stop(r) for r in new)

    async def _deliver(self, item: Item) -> bool:
        self.clock.t = max(self.clock.t, item.t)
        if isinstance(item, Delivery):
            stored = self.store.store_frames([NewFrame(item.device_id, item.seq, item.t,
                                                       item.msg)], {}, self.resident_of)
            self.frames += 1
            if stored:
                await self.desk.on_events(stored)
        else:
            self.store.add_hub_event(item.event, item.t, item.resident_id,
                                     detail=item.detail or None)
            self.hub_events += 1
            await self.desk.poll_hub_events()
        if self.centre.acks_due:
            await self._settle()
            if self._stop_now():
                return False
        return True

    async def feed(self, items: Iterable[Item], until: float,
                   stop: Callable[[AlarmReport], bool] | None = None) -> bool:
        """Deliver ``items`` (time order, none after ``until``) and the resident's answers to
        the rules' checks, ticking every ``tick_s`` up to ``until`` (at an instant, items
        before the tick). With ``stop``, return False as soon as a raised alarm's report
        satisfies it."""
        self._stop = stop
        self._seen_reports = len(self.centre.reports)
        source = iter(items)
        upcoming = next(source, None)
        answers = self._answers
        inf = math.inf
        while True:
            item_t = upcoming.t if upcoming is not None else inf
            answer_t = answers[0][0] if answers and answers[0][0] <= until else inf
            tick_t = self.next_tick if self.next_tick <= until else inf
            first = min(item_t, answer_t)
            if tick_t < first:
                if not await self._tick():
                    return False
                continue
            if first == inf:
                return True
            if upcoming is not None and item_t <= answer_t:
                item: Item = upcoming
                upcoming = next(source, None)
            else:
                _, _, item, check_id = heapq.heappop(answers)
                if check_id in self._withdrawn:
                    continue
            if not await self._deliver(item):
                return False

    def fork(self) -> Replayer:
        """An independent copy of this hub as it stands: store, rules state, desk, centre.

        A deep copy, so that whatever the desk and the rules keep (today the rules' State;
        tomorrow perhaps a learned routine) is copied without this code knowing it. The store
        is copied with SQLite's backup API; the configuration is shared (immutable)."""
        store = Store(":memory:")
        self.store.conn.backup(store.conn)
        memo: dict[int, Any] = {id(self.store): store, id(self.config): self.config,
                                id(self.respond): self.respond,
                                id(self.desk._lock): asyncio.Lock(),
                                id(self.desk.engine.config): self.desk.engine.config}
        twin: Replayer = copy.deepcopy(self, memo)
        twin._tap_actions()
        return twin

    def result(self, start: float, end: float) -> ReplayResult:
        rooms = {d.device_id: d.room for d in self.store.devices()}
        alarms: list[ReplayedAlarm] = []
        for row in sorted(self.store.alarms(limit=10**9), key=lambda a: (a["raised_at"],
                                                                           a["alarm_id"])):
            causes = []
            for event_id in row["cause_event_ids"]:
                for ev in self.store.events(after_id=event_id - 1, limit=1):
                    if ev.id == event_id:
                        causes.append(_cause(ev, rooms))
            why = self.resolve_reasons.get(row["alarm_id"])
            alarms.append(ReplayedAlarm(
                row["alarm_id"], row["kind"], row["priority"], row["resident_id"],
                row["device_id"], _room_of(row["device_id"], causes, rooms), row["raised_at"],
                row["description"], causes, row["state"], row["resolved_at"], why))
        return ReplayResult(start, end, alarms, list(self.centre.reports),
                            list(self.other_actions), self.frames, self.hub_events, self.ticks)


def _cause(ev: StoredEvent, rooms: dict[str, str | None]) -> Cause:
    return Cause(ev.id, ev.received_at, ev.device_id, rooms.get(ev.device_id or ""),
                 ev.name or ev.type, ev.value)


def _room_of(device_id: str | None, causes: list[Cause],
             rooms: dict[str, str | None]) -> str | None:
    if device_id is not None:
        return rooms.get(device_id)
    for c in sorted(causes, key=lambda c: -c.event_id):
        if c.room is not None:
            return c.room
    return None


async def replay_async(rec: Recording, settings: Sequence[str] = (),
                       config: HubConfig | None = None) -> ReplayResult:
    cfg = rec.config(settings) if config is None else config
    replayer = Replayer(cfg, rec.devices, rec.start)
    await replayer.start()
    await replayer.feed(timeline(rec), rec.end)
    result = replayer.result(rec.start, rec.end)
    result.settings = list(settings)
    return result


def replay(rec: Recording, settings: Sequence[str] = ()) -> ReplayResult:
    """Replay a whole recording; ``settings`` are ``--set NAME=VALUE`` over its configuration
    (raises ``ConfigError`` naming the key)."""
    cfg = rec.config(settings)
    return asyncio.run(replay_async(rec, settings, cfg))


def local_time(t: float, zone: str) -> str:
    from zoneinfo import ZoneInfo

    if not math.isfinite(t):
        return "-"
    return dt.datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
