"""What goes into and comes out of the rules engine, and the state it keeps.

Inputs are stored events (:class:`Event`, a row of the hub's ``events`` table) and timer ticks
(:class:`Tick`); outputs are :class:`RaiseAlarm` and :class:`ResolveAlarm` actions. Nothing here
does I/O: the shell (``trygg.hub.alarms``) stores and forwards what the engine decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .alarm_kinds import PRIORITY as _KIND_PRIORITY
from .resident import Resident
from .routine import Routine

# Alarm kinds the rules raise, by name (declared in trygg.hub.rules.alarm_kinds).
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

# Priorities come from the one list of alarm kinds (trygg.hub.rules.alarm_kinds), where a new kind
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
    # The cell its role is built with when on a battery (hub/roles, RoleDescription.cell):
    # which low-battery limits apply (Thresholds); "none": never a battery (the bridge).
    cell: str = "li_ion"
    # It can prompt the resident (a light or buzzer) and takes the answer as its `button`
    # event: the rules may ask before calling the centre (local_check.py). From the role's
    # description (hub/roles), never from its name.
    prompts: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    """What a resident's home has, from the device list (a cache of RulesConfig)."""

    has_motion: bool
    has_bed: bool
    bed_room: str | None
    # The devices that can prompt the resident, in device-id order (local_check.py).
    prompt_devices: tuple[str, ...] = ()


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


@dataclass(frozen=True, slots=True)
class LocalCheck:
    """Ask the resident before calling the centre: the prompting devices show a prompt; a press
    on one of them by ``answer_by`` ends the episode (local_check.py). ``check_id`` is the id
    of the alarm that goes to the centre without an answer."""

    check_id: str
    kind: str  # the alarm kind it stands for
    resident_id: str
    device_ids: tuple[str, ...]  # where the prompt shows
    reason: str  # what the alarm's text would say
    cause_event_ids: tuple[int, ...]
    asked_at: float  # when the condition was met (the prompt's start)
    answer_by: float
    at: float
    # 1 for the first prompt; 2 and on when she did not answer and is asked again
    # (``check_reasks``): the same check, its alarm id and answer deadline moved on.
    attempt: int = 1


# How a local check ends (LocalCheckEnded.outcome).
CHECK_ANSWERED = "answered"  # she pressed: no alarm
CHECK_NO_ANSWER = "no answer"  # the window passed: its alarm was raised
CHECK_ENDED = "ended"  # the condition ended (she moved elsewhere, went to bed ...): no alarm


@dataclass(frozen=True, slots=True)
class LocalCheckEnded:
    """A check ended (``outcome``: CHECK_ANSWERED, CHECK_NO_ANSWER, CHECK_ENDED); the devices
    stop prompting."""

    check_id: str
    resident_id: str
    device_ids: tuple[str, ...]
    outcome: str
    reason: str
    at: float

    @property
    def answered(self) -> bool:
        return self.outcome == CHECK_ANSWERED


Action = RaiseAlarm | ResolveAlarm | LocalCheck | LocalCheckEnded


@dataclass(slots=True)
class OpenAlarm:
    alarm_id: str
    kind: str
    subject: str  # the resident or device the alarm is about
    resident_id: str
    device_id: str | None
    room: str | None = None  # where the resident was last seen when it was raised
    acknowledged: bool = False  # the centre has acknowledged it


@dataclass(slots=True)
class PendingCheck:
    """A local check waiting for the resident's answer, or answered (kept so the episode is
    not asked again)."""

    check_id: str  # the alarm id it stands for
    kind: str
    episode: int
    causes: tuple[int, ...]
    clauses: tuple[str, ...]  # the alarm's text, refreshed while the condition lasts
    room: str | None
    asked_at: float  # the first prompt's start
    answer_by: float  # the current prompt's deadline
    answered_at: float | None = None
    attempt: int = 1  # prompts so far (LocalCheck.attempt)


@dataclass(slots=True)
class ResidentState:
    # The last sign of life at home -- motion, a trigger count, a bed or door edge, a dose
    # taken, a button -- and the room it came from.
    seen_at: float | None = None
    seen_event: int = 0
    seen_room: str | None = None
    last_motion_at: float | None = None
    # Bed: the mat's state, and the current (or last) bed stay.
    in_bed: bool | None = None  # None until a bed sensor has spoken
    stay_start: float | None = None  # the bed_in that began the stay
    stay_event: int = 0
    stay_night: bool = False  # the stay began inside the night window (the night's sleep)
    exit_at: float | None = None  # the bed_out that ended it
    exit_event: int = 0
    # No motion confirms the exit (yet): the mat may have lost the sleeper, so she counts as
    # still in bed (presence.py).
    exit_doubtful: bool = False
    # Presence. The entrance door opened while the home was empty (or she had just gone out):
    # the close that follows is an arrival, not a departure.
    door_arrival: bool = False
    # A door close that may be a departure, waiting for a sign of life inside.
    leaving_at: float | None = None
    leaving_event: int = 0
    leaving_device: str | None = None
    leaving_seq: int | None = None
    away: bool = False
    away_by_command: bool = False
    away_event: int = 0
    away_since: float = 0.0
    # Did-not-go-to-bed: the evening (local day) it was last raised for.
    not_in_bed_evening: int = 0
    # Cache: when the current bed stay becomes "not up" (a function of the stay and the day).
    in_bed_due_for: tuple[int, bool, int] = (0, False, 0)
    in_bed_due: float = 0.0
    # Cache: inactivity deadline for seen_at (pure function of it and the config).
    inactivity_due_for: float | None = None
    inactivity_due: float = 0.0
    # Medication: dose id -> (due at, event id).
    doses_due: dict[int, tuple[float, int]] = field(default_factory=dict)
    # What the rules have learned of her routine from the stored events (routine.py).
    routine: Routine = field(default_factory=Routine)
    # Local checks (local_check.py): by the id of the alarm each stands for; when prompts
    # began (for the bound per hour); where a quiet spell began when an answer to a check cut
    # it (the routine learns the whole spell: the press was asked for, not a movement of hers).
    checks: dict[str, PendingCheck] = field(default_factory=dict)
    prompts: list[float] = field(default_factory=list)
    spell_from: float | None = None
    spell_room: str | None = None


@dataclass(slots=True)
class DeviceState:
    last_frame_at: float | None = None
    last_frame_event: int = 0
    battery_low: bool = False
    power: str | None = None  # from the device's hello events, in their order
    dispenser_problem: str | None = None  # jam | empty | stock_low
    # State channel -> sequence number of the newest event applied on it (device_order.py).
    channel_seq: dict[str, int] = field(default_factory=dict)
    # Motion unit: when it last reported motion, and the triggers its motion events stood for
    # since its last heartbeat (the heartbeat's count beyond them is motion not yet reported).
    motion_report_at: float | None = None
    motion_reported: int = 0
    heartbeat_at: float | None = None


@dataclass(slots=True)
class State:
    residents: dict[str, ResidentState] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    # alarm id -> the open alarms (alarm_book.py).
    open_alarms: dict[str, OpenAlarm] = field(default_factory=dict)
    # Ids of every alarm raised: one alarm per episode, even after it was resolved.
    raised: set[str] = field(default_factory=set)
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
