"""A home in simulated time for tests of the pure rules core.

Events are *stored* in the order the test gives (which may differ from the devices' own order,
as after a hub restart); each device numbers its events itself unless the test says otherwise.
The engine is fed as the hub feeds it: a tick at an event's arrival, then the event, and ticks
every ``tick_s`` in between.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from trygg.hub.rules import (
    Action,
    DeviceInfo,
    Event,
    RaiseAlarm,
    Resident,
    ResolveAlarm,
    RulesConfig,
    RulesEngine,
    State,
    Tick,
)

# A call point: in a home with ``prompting=True`` it can prompt the resident (its role's
# description says so: trygg.hub.roles), so the rules may ask her first (local_check.py).
CALL = "ca0000000001"
BED, BEDROOM, BATH, KITCHEN, HALL, LIVING, SMOKE, PILLS = (
    "b00000000001", "a00000000001", "a00000000002", "a00000000003", "a00000000004",
    "a00000000005", "5a0000000001", "d00000000001")
ROLES = {
    BED: ("bed", "bedroom"), BEDROOM: ("motion", "bedroom"), BATH: ("motion", "bathroom"),
    KITCHEN: ("motion", "kitchen"), HALL: ("motion", "hall"), LIVING: ("motion", "living room"),
    SMOKE: ("smoke", "kitchen"), PILLS: ("dispenser", "kitchen"),
}


@dataclass
class RulesHome:
    """One resident, the devices of ``ROLES``, a clock that starts at ``date`` 00:00 local."""

    resident: Resident = field(default_factory=lambda: Resident(id="r1", arc_account="1234"))
    date: dt.date = dt.date(2025, 3, 12)
    tick_s: float = 15.0
    state: State = field(default_factory=State)
    stored: list[Event] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    now: float = 0.0
    _seq: dict[str, int] = field(default_factory=dict)
    prompting: bool = False  # the home has the call point CALL

    def __post_init__(self) -> None:
        from trygg.hub.roles import prompts

        self.now = self.at("00:00")
        # Heartbeats every 30 days: device supervision stays out of tests about the resident
        # (it has tests of its own).
        devices = {d: DeviceInfo(d, role, room, self.resident.id, i + 1, 30 * 86400.0, self.now)
                   for i, (d, (role, room)) in enumerate(ROLES.items())}
        if self.prompting:
            devices[CALL] = DeviceInfo(CALL, "call_point", "kitchen", self.resident.id, 99,
                                       30 * 86400.0, self.now, prompts=prompts("call_point"))
        self.engine = RulesEngine(RulesConfig({self.resident.id: self.resident}, devices))

    def at(self, hhmm: str, day: int = 0) -> float:
        h, m = map(int, hhmm.split(":"))
        d = self.date + dt.timedelta(days=day)
        return dt.datetime(d.year, d.month, d.day, h, m,
                           tzinfo=zoneinfo.ZoneInfo(self.resident.timezone)).timestamp()

    def next_seq(self, device: str) -> int:
        seq = self._seq.get(device, -1) + 1
        self._seq[device] = seq
        return seq

    def store(self, device: str, name: str, at: float | None = None, *, seq: int | None = None,
              value: int | None = None, msg_type: str = "event",
              body: dict[str, Any] | None = None) -> Event:
        """Store one frame of ``device`` arriving at ``at`` (default: now) and feed it."""
        if seq is None:
            seq = self.next_seq(device)
        else:
            self._seq[device] = max(self._seq.get(device, -1), seq)
        msg: dict[str, Any] = {"type": msg_type, "uptime": 1}
        if msg_type == "event":
            msg["event"] = name
        if value is not None:
            msg["value"] = value
        msg.update(body or {})
        ev = Event(len(self.stored) + 1, self.now if at is None else at, device, seq,
                   self.resident.id, msg_type, name if msg_type == "event" else None, value,
                   None, msg)
        self.run_until(ev.received_at)
        self.stored.append(ev)
        self.actions += self.engine.step(self.state, ev, ev.received_at)[1]
        return ev

    def heartbeat(self, device: str, at: float | None = None, *, seq: int | None = None,
                  **fields: Any) -> Event:
        body = {"battery_mv": 3900, "rssi": -60, "free_heap": 50000, "outbox": 0,
                "rejected": 0, **fields}
        return self.store(device, "heartbeat", at, seq=seq, msg_type="heartbeat", body=body)

    def hub_event(self, name: str, at: float | None = None, **detail: Any) -> Event:
        ev = Event(len(self.stored) + 1, self.now if at is None else at, None, None,
                   self.resident.id, "hub", name, None, None, {"type": "hub", "event": name,
                                                                **detail})
        self.run_until(ev.received_at)
        self.stored.append(ev)
        self.actions += self.engine.step(self.state, ev, ev.received_at)[1]
        return ev

    def run_until(self, t: float) -> None:
        """Tick every ``tick_s`` from now up to ``t`` (and at ``t``)."""
        while self.now + self.tick_s < t:
            self.now += self.tick_s
            self.actions += self.engine.step(self.state, Tick(), self.now)[1]
        if t > self.now:
            self.now = t
        self.actions += self.engine.step(self.state, Tick(), self.now)[1]

    def raised(self, kind: str | None = None) -> list[RaiseAlarm]:
        return [a for a in self.actions if isinstance(a, RaiseAlarm)
                and (kind is None or a.kind == kind)]

    def resolved(self, kind: str | None = None) -> list[ResolveAlarm]:
        return [a for a in self.actions if isinstance(a, ResolveAlarm)
                and (kind is None or a.kind == kind)]

    def open_kinds(self) -> list[str]:
        return sorted(a.kind for a in self.state.open_alarms.values())
