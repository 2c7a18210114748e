"""The imperative shell around the rules: feed them, store their alarms, hand alarms to the ARC.

The interface to the ARC forwarder (hub/arc/):

* the hub calls ``await sink.submit(report)`` with an ``AlarmReport``; it returns once the
  report is durably queued in the forwarder's outbox (then the alarm is "forwarded");
* the forwarder calls ``on_delivery(alarm_id, event, receiver, ok, detail)`` with delivery
  news; an ``ok`` delivery of a "raised" report means the centre acknowledged the alarm.

``AlarmReport`` is defined by the forwarder in ``trygg.hub.arc.report``.

Life cycle: raised (stored) -> forwarded (queued by the forwarder) -> acknowledged (the centre
acked) -> resolved (the condition cleared, or a person closed it). The alarm's state is in the
hub's database and the report's in the forwarder's outbox, so no transaction spans both; a
crash between them is made harmless instead. Every start submits again each alarm the centre
has not acknowledged, and each resolution whose alarm the store has not closed: the outbox
keeps one message number per (alarm, event) and remembers what it delivered, so a second
submission is either the same queued message or a "delivered already", never a second alarm.
For the same reason a resolution is queued first and recorded second. The steps are named
crash points (``trygg.hub.crash_points``) where tests kill the hub.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from .arc.report import AlarmReport, restore_description
from .config import HubConfig
from .crash_points import crash_point
from .roles import call_text, cell, describe, prompts
from .rules import (
    LocalCheck,
    LocalCheckEnded,
    RaiseAlarm,
    ResolveAlarm,
    RulesConfig,
    RulesEngine,
    State,
    Tick,
    replay,
)
from .rules.model import HUB_ALARM_ACKNOWLEDGED, Action, DeviceInfo
from .store import Device, Store, StoredEvent

log = logging.getLogger("trygg.hub.alarms")

# Zone reported for an alarm that no device can be named for (ARC zones are 1..999; devices
# get 1..998 at pairing in practice).
HUB_ZONE = 999
# The longest prompt the wire allows (protocol/messages.py: a command's seconds).
PROMPT_MAX_S = 600


class AlarmSink(Protocol):
    async def submit(self, report: Any) -> None: ...


DeliveryCallback = Callable[[str, str, str, bool, str], None]


# The levels of ``indicate`` (protocol/trygg.cddl, indicate-level).
INDICATE_STORED = 1  # the hub has stored the call's alarm
INDICATE_ACKNOWLEDGED = 2  # the centre has acknowledged it


def rules_config(config: HubConfig, devices: Iterable[Device]) -> RulesConfig:
    return RulesConfig(
        residents={r.id: r for r in config.residents},
        devices={d.device_id: DeviceInfo(d.device_id, d.role, d.room, d.resident_id, d.zone,
                                         d.heartbeat_s, d.paired_at, call_text(d.role),
                                         d.power, cell(d.role), prompts(d.role))
                 for d in devices})


class AlarmDesk:
    """Runs the engine over stored events and ticks; stores and forwards its decisions."""

    def __init__(self, config: HubConfig, run_db: Callable[..., Awaitable[Any]],
                 sink: AlarmSink | None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._run_db = run_db
        self.sink = sink
        self._clock = clock
        self.engine = RulesEngine(RulesConfig({r.id: r for r in config.residents}, {}))
        self.state = State()
        self._devices: dict[str, DeviceInfo] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.hub_scan_id = 0  # hub-made events up to this id have been fed to the rules
        # Queues a command to a device (CommandSender.queue), set by the service: the
        # wearer's device is told how far its call has come (feedback()).
        self.queue_command: Callable[[str, dict[str, Any]], Awaitable[int]] | None = None
        self.checks_asked = 0  # local checks begun since start (the service's status)
        # Sends a device command (device id, body): the service's CommandSender.queue.
        self.prompter: Callable[[str, dict[str, Any]], Awaitable[Any]] | None = None

    def set_devices(self, devices: list[Device]) -> None:
        cfg = rules_config(self.config, devices)
        if cfg.devices != self._devices:
            self._devices = cfg.devices
            self.engine = RulesEngine(cfg)

    async def rebuild(self) -> None:
        """Replay every stored event to rebuild the rules' state after a start, then act on
        what the replay decided that the store does not know yet (alarms due while the hub
        was down), and submit again every alarm the centre has not acknowledged (a crash may
        have come between the outbox and the store; see the module docstring)."""
        now = self._clock()

        def _replay(store: Store) -> list[Action]:
            new: list[Action] = []
            for action in replay(self.engine, self.state, store.events(), until=now):
                if isinstance(action, RaiseAlarm):
                    if not store.alarm_exists(action.alarm_id):
                        new.append(action)
                elif isinstance(action, LocalCheck | LocalCheckEnded):
                    new.append(action)  # the ones still waiting are kept below
                else:
                    rows = [a for a in store.alarms() if a["alarm_id"] == action.alarm_id]
                    if rows and rows[0]["state"] != "resolved":
                        new.append(action)
            return new

        async with self._lock:
            self.state = State()
            actions = await self._run_db(_replay)
            # A check of the past is history; one still waiting for her answer is asked again
            # (the devices may have lost the prompt with the hub).
            waiting = {c.check_id for rs in self.state.residents.values()
                       for c in rs.checks.values() if c.answered_at is None}
            actions = [a for a in actions if not isinstance(a, LocalCheckEnded)
                       and (not isinstance(a, LocalCheck) or a.check_id in waiting)]
            self.hub_scan_id = self.state.last_event_id
            # A forwarded alarm is submitted again only while the outbox still remembers its
            # delivery ([arc].delivered_keep_days); older ones would go out as new messages.
            keep_s = (self.config.arc.delivered_keep_days if self.config.arc else 30.0) * 86400
            for alarm in await self._run_db(lambda s: s.alarms(open_only=True)):
                resubmit = alarm["state"] == "raised" or (
                    alarm["state"] == "forwarded"
                    and (alarm["forwarded_at"] or 0) > now - keep_s)
                if resubmit and all(
                        getattr(a, "alarm_id", None) != alarm["alarm_id"] for a in actions):
                    await self._forward_stored(alarm)
                # The wearer is told of a call once the alarm is stored, and again when the
                # centre acknowledges it; a kill between that step and the telling (the
                # command row) would leave them unsure whether help is coming.
                if alarm["state"] in ("raised", "forwarded", "acknowledged"):
                    await self._feedback_once(alarm, INDICATE_STORED)
                if alarm["state"] == "acknowledged":
                    await self._feedback_once(alarm, INDICATE_ACKNOWLEDGED)
            await self._act(actions)
        log.info("rules rebuilt from %d stored events; %d open alarms",
                 self.state.last_event_id, len(self.state.open_alarms))

    async def on_events(self, events: list[StoredEvent]) -> None:
        async with self._lock:
            actions: list[Action] = []
            now = self._clock()
            for ev in events:
                actions += self.engine.step(self.state, ev, max(now, ev.received_at))[1]
            await self._act(actions)

    async def tick(self) -> None:
        async with self._lock:
            _, actions = self.engine.step(self.state, Tick(), self._clock())
            await self._act(actions)

    async def _act(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                if isinstance(action, RaiseAlarm):
                    await self._raise(action)
                elif isinstance(action, ResolveAlarm):
                    await self._resolve(action)
                else:
                    await self._prompt(action)
            except Exception:
                log.exception("acting on %s failed", action)

    async def _prompt(self, a: LocalCheck | LocalCheckEnded) -> None:
        """A local check: the rules ask the resident before calling the centre. What was asked
        and decided is the rules' own, rebuilt from the stored events (the answer is a stored
        press); the log tells a technician, and ``prompter`` (the service's command sender)
        sends each prompting device a ``prompt`` for the time left to answer. A device stops
        by itself at the end of it, or when she answers on it."""
        if isinstance(a, LocalCheck):
            try:
                zone = self.config.resident(a.resident_id).zone
            except KeyError:
                zone = None
            until = dt.datetime.fromtimestamp(a.answer_by, zone).strftime("%H:%M:%S")
            log.warning("local check %s: asking the resident on %s until %s: %s", a.check_id,
                        ", ".join(a.device_ids), until, a.reason)
            self.checks_asked += 1
            left = math.ceil(a.answer_by - self._clock())
            if self.prompter is not None and left > 0:
                for device_id in a.device_ids:
                    await self.prompter(device_id, {"command": "prompt",
                                                    "seconds": min(PROMPT_MAX_S, left)})
        else:
            log.warning("local check %s ended: %s", a.check_id, a.reason)

    async def _raise(self, a: RaiseAlarm) -> None:
        zone, room, device_id = await self._locate(a.device_id, a.cause_event_ids)
        stored = await self._run_db(
            lambda s: s.raise_alarm(a.alarm_id, a.kind, a.priority, a.resident_id, device_id,
                                    a.at, a.description, a.cause_event_ids))
        if not stored:
            return
        crash_point("alarm.stored")
        log.warning("alarm raised: %s (%s, priority %d)", a.alarm_id, a.kind, a.priority)
        await self._submit(a.alarm_id, "raised", a.kind, a.priority, a.resident_id, zone, room,
                           device_id, a.description, a.at)
        await self.feedback(a.device_id, INDICATE_STORED)

    async def _resolve(self, a: ResolveAlarm) -> None:
        rows = await self._run_db(lambda s: [r for r in s.alarms() if r["alarm_id"] ==
                                             a.alarm_id])
        if not rows or rows[0]["state"] == "resolved":
            return
        row = rows[0]
        zone, room, device_id = await self._locate(row["device_id"], row["cause_event_ids"])
        log.info("alarm resolved: %s (%s)", a.alarm_id, a.reason)
        # Queued first, recorded second: a crash between leaves the alarm open in the store,
        # and the next start's replay resolves it again (the outbox has the report already).
        await self._submit(a.alarm_id, "resolved", row["kind"], row["priority"],
                           row["resident_id"], zone, room, device_id,
                           restore_description(row["description"], a.reason), row["raised_at"],
                           forwarded_state=False)
        crash_point("alarm.resolve_queued")
        now = self._clock()
        await self._run_db(lambda s: s.set_alarm_state(a.alarm_id, "resolved", now))

    async def _forward_stored(self, row: dict[str, Any]) -> None:
        zone, room, device_id = await self._locate(row["device_id"], row["cause_event_ids"])
        await self._submit(row["alarm_id"], "raised", row["kind"], row["priority"],
                           row["resident_id"], zone, room, device_id, row["description"],
                           row["raised_at"])

    async def _locate(self, device_id: str | None,
                      causes: Iterable[int]) -> tuple[int, str | None, str | None]:
        """Zone, room and device for the report: the alarm's device, else the device of its
        latest causing event (where the resident was last seen), else the hub."""
        if device_id is None:
            ids = sorted(causes)
            if ids:
                def _device_of(s: Store) -> str | None:
                    for ev in s.events(after_id=ids[-1] - 1, limit=1):
                        return ev.device_id
                    return None
                device_id = await self._run_db(_device_of)
        info = self._devices.get(device_id or "")
        if info is None:
            return HUB_ZONE, None, device_id
        return info.zone, info.room, device_id

    async def _submit(self, alarm_id: str, event: str, kind: str, priority: int,
                      resident_id: str, zone: int, room: str | None, device_id: str | None,
                      description: str, raised_at: float, forwarded_state: bool = True) -> None:
        if self.sink is None:
            log.error("no ARC forwarder configured: alarm %s (%s) stays %s in the store",
                      alarm_id, kind, event)
            return
        try:
            account = self.config.resident(resident_id).arc_account
        except KeyError:
            log.error("alarm %s: resident %r not in the configuration; not forwarded",
                      alarm_id, resident_id)
            return
        report = AlarmReport(alarm_id=alarm_id, event=event, kind=kind, priority=priority,
                             account=account, zone=zone, room=room, device_id=device_id,
                             description=description, raised_at=raised_at)
        await self.sink.submit(report)
        if forwarded_state:
            crash_point("alarm.queued")
            now = self._clock()
            await self._run_db(lambda s: s.set_alarm_state(alarm_id, "forwarded", now))
            crash_point("alarm.forwarded")

    # -- news from the forwarder ------------------------------------------------------------

    def on_delivery(self, alarm_id: str, event: str, receiver: str, ok: bool,
                    detail: str) -> None:
        """Callback for the ARC forwarder (any thread-free caller on the event loop)."""
        task = asyncio.get_running_loop().create_task(
            self._delivery(alarm_id, event, receiver, ok, detail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delivery(self, alarm_id: str, event: str, receiver: str, ok: bool,
                        detail: str) -> None:
        now = self._clock()
        await self._run_db(lambda s: s.add_delivery(alarm_id, event, receiver, ok, detail, now))
        if not (ok and event == "raised"):
            if not ok:
                log.warning("alarm %s not delivered to %s: %s", alarm_id, receiver, detail)
            return
        changed = await self._run_db(lambda s: s.set_alarm_state(alarm_id, "acknowledged", now))
        if changed:
            await self._run_db(lambda s: s.add_hub_event(
                HUB_ALARM_ACKNOWLEDGED, now, None, detail={"alarm_id": alarm_id,
                                                           "receiver": receiver}))
            await self.poll_hub_events()
            rows = await self._run_db(lambda s: [r for r in s.alarms()
                                                 if r["alarm_id"] == alarm_id])
            if rows:
                await self.feedback(rows[0]["device_id"], INDICATE_ACKNOWLEDGED)

    async def feedback(self, device_id: str | None, level: int) -> None:
        """Tell the device that raised an alarm how far it has come (``indicate``), if its
        role takes that command (the wearable button): stored by the hub, acknowledged by
        the centre. A command row, so it survives a restart and is retried until the device
        answers; never in the way of the alarm itself (after the outbox, errors logged)."""
        info = self._devices.get(device_id or "")
        if info is None or device_id is None or self.queue_command is None:
            return
        try:
            if "indicate" not in describe(info.role).device().commands:
                return
            await self.queue_command(device_id, {"command": "indicate", "level": level})
        except Exception:
            log.exception("telling device %s of its alarm (indicate %d) failed", device_id,
                          level)

    async def _feedback_once(self, alarm: dict[str, Any], level: int) -> None:
        """feedback() unless an ``indicate`` of this level went to the alarm's device since
        the alarm was raised (a restart after it was queued)."""
        device_id, since = alarm["device_id"], alarm["raised_at"]
        if device_id is None or device_id not in self._devices:
            return

        def _queued(s: Store) -> bool:
            rows = s.conn.execute("SELECT body FROM commands WHERE device_id = ? AND "
                                  "created_at >= ?", (device_id, since)).fetchall()
            return any(json.loads(body).get("command") == "indicate"
                       and json.loads(body).get("level") == level for (body,) in rows)

        if not await self._run_db(_queued):
            await self.feedback(device_id, level)

    async def poll_hub_events(self) -> int:
        """Feed hub-made events stored since the last poll (by this service or by the CLI:
        away, resolve) to the rules. Returns how many."""
        after = self.hub_scan_id
        # Filtered in SQL: device events since the last hub-made one may be many thousands,
        # and every tick would decode them all to find none.
        events: list[StoredEvent] = await self._run_db(
            lambda s: list(s.events(after_id=after, event_type="hub")))
        if events:
            self.hub_scan_id = events[-1].id
            await self.on_events(events)
        return len(events)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
