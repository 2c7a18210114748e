"""What goes into and comes out of the rules engine, and the state it keeps.

Inputs are stored events (:class:`Event`, a row of the hub's ``events`` table) and timer ticks
(:class:`Tick`); outputs are :class:`RaiseAlarm` and :class:`ResolveAlarm` actions. Nothing here
does I/O: the shell (``trygg.hub.alarms``) stores and forwards what the engine decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..alarm_kinds import PRIORITY as _KIND_PRIORITY
from ..config import Resident

# Alarm kinds the rules raise, by name (declared in trygg.hub.alarm_kinds).
FIRE = "fire"
POSSIBLE_FALL = "possible_fall"
DEVICE_FALL = "device_fall"
ASSISTANCE = "assistance"
INACTIVITY = "inactivity"
NOT_UP = "not_up"
MISSED_DOSE = "missed_dose"
DISPENSER_PROBLEM = "dispenser_problem"
DEVICE_SILENT = "device_silent"
LOW_BATTERY = "low_battery"
TAMPER = "tamper"
SMOKE_FAULT = "smoke_fault"
REJECTED_FRAMES = "rejected_frames"
SENSORS_UNREACHABLE = "sensors_unreachable"  # the hub lost its broker: it hears no device

# Priorities come from the one list of alarm kinds (trygg.hub.alarm_kinds), where a new kind
# is declared with its texts; its name gets a constant above.
PRIORITY = _KIND_PRIORITY

# Hub-made events (type "hub") that the rules understand.
HUB_AWAY_ON = "away_on"  # resident away, set by command (hospital stay, holiday)
HUB_AWAY_OFF = "away_off"
HUB_RESOLVE_ALARM = "resolve_alarm"  # a person closed an alarm; body has "alarm_id"
HUB_ALARM_ACKNOWLEDGED = "alarm_acknowledged"  # the centre acknowledged; body has "alarm_id"
HUB_REJECTED_FRAMES = "rejected_frames"  # ingest: repeated rejected frames from a device
HUB_REJECTED_FRAMES_CLEAR = "rejected_frames_clear"
HUB_BROKER_LOST = "broker_lost"  # the service: no broker connection for broker_lost_alarm_s
HUB_BROKER_BACK = "broker_back"  # ... and connected again


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event: one accepted frame or one hub-made event (``type == "hub"``)."""

    id: int
    received_at: float  # hub clock, UTC epoch seconds
    device_id: str | None
    seq: int | None
    resident_id: str | None
    type: str  # hello | event | heartbeat | command_result | hub
    name: str | None  # the event name for type event and hub
    value: int | None
    device_time: int | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes: timers whose deadline is at or before ``now`` fire."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    role: str  # one of protocol.messages.ROLES (described in trygg.hub.roles)
    room: str | None
    resident_id: str
    zone: int
    heartbeat_s: float | None = None  # None: the resident's thresholds.heartbeat_s
    paired_at: float = 0.0
    call_text: str | None = None  # what the centre reads for its `button` (None: the default)
    # What powers it, as its last hello said (kept in the devices table, which outlives the
    # events' retention): "mains", "battery", or None (not said: treated as a battery).
    power: str | None = None


@dataclass(frozen=True)
class RulesConfig:
    residents: dict[str, Resident]
    devices: dict[str, DeviceInfo]


@dataclass(frozen=True, slots=True)
class RaiseAlarm:
    alarm_id: str
    kind: str
    priority: int
    resident_id: str
    device_id: str | None
    description: str
    cause_event_ids: tuple[int, ...]
    at: float


@dataclass(frozen=True, slots=True)
class ResolveAlarm:
    alarm_id: str
    kind: str
    resident_id: str
    device_id: str | None
    reason: str
    at: float


Action = RaiseAlarm | ResolveAlarm


@dataclass(slots=True)
class OpenAlarm:
    alarm_id: str
    kind: str
    resident_id: str
    device_id: str | None
    room: str | None = None  # where the resident was last seen when it was raised
    acknowledged: bool = False  # the centre has acknowledged it


@dataclass(slots=True)
class ResidentState:
    # Last sign of life at home (motion, bed, door, dose taken) and last motion.
    last_activity_at: float | None = None
    last_activity_event: int = 0
    last_activity_is_bathroom_motion: bool = False
    last_motion_at: float | None = None
    last_motion_event: int = 0
    last_motion_room: str | None = None
    # Bed: None until a bed sensor has spoken.
    in_bed: bool | None = None
    bed_in_at: float | None = None
    bed_in_event: int = 0
    # A bed exit during the night without a return yet (the night fall rule's episode).
    night_exit_at: float | None = None
    night_exit_event: int = 0
    night_exit_ends: float = 0.0  # end of that night: the episode ends with it
    # Away: door opened and closed, waiting to see whether anyone is still inside.
    door_closed_at: float | None = None
    door_closed_event: int = 0
    away: bool = False
    away_by_command: bool = False
    away_event: int = 0
    away_since: float = 0.0
    # Cache: inactivity deadline for last_activity_at (pure function of it and the config).
    inactivity_due_for: float | None = None
    inactivity_due: float = 0.0
    # Medication: dose id -> (due at, event id).
    doses_due: dict[int, tuple[float, int]] = field(default_factory=dict)


@dataclass(slots=True)
class DeviceState:
    last_frame_at: float | None = None
    last_frame_event: int = 0
    battery_low: bool = False
    power: str | None = None  # from the device's hello events, in their order
    dispenser_problem: str | None = None  # jam | empty | stock_low


@dataclass(slots=True)
class State:
    residents: dict[str, ResidentState] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    # (kind, subject) -> the one open alarm of that kind for that resident or device.
    open_alarms: dict[tuple[str, str], OpenAlarm] = field(default_factory=dict)
    # (kind, subject) -> cause event id of the last alarm raised: one alarm per episode.
    last_cause: dict[tuple[str, str], int] = field(default_factory=dict)
    last_event_id: int = 0
    # Caches that only make ticks cheap (a replayed year ticks once per event): the earliest
    # moment any device can fall silent, valid for the configuration generation it was
    # computed for.
    silence_check_at: float = 0.0
    silence_generation: int = -1

    def resident(self, resident_id: str) -> ResidentState:
        rs = self.residents.get(resident_id)
        if rs is None:
            rs = self.residents[resident_id] = ResidentState()
        return rs

    def device(self, device_id: str) -> DeviceState:
        ds = self.devices.get(device_id)
        if ds is None:
            ds = self.devices[device_id] = DeviceState()
        return ds
