"""What the firmware would send for raw sensor observations: one function per role.

A recording may hold what the sensors saw (PIR trigger instants, door and bed-occupancy edges,
button presses, the smoke alarm's relay) rather than what the devices sent. The hub only ever
sees frames, and the firmware decides which frames: the motion unit reports the first trigger at
once and what it counted during its ``motion_holdoff_s`` at the end of it (and in the
heartbeat), the bed mat needs ``bed_enter_s`` / ``bed_exit_s`` of steady pressure
before it reports, the door contact is debounced. Each function below restates its role's
``run`` loop (``firmware/roles/<role>.py``) over observations instead of interrupts; change the
function together with the role. The tunables' defaults are read from the firmware's own
``firmware/config.py`` (``DEFAULTS``, ``LOCAL_KEYS``) and ``firmware/roles/motion.py``, not
copied, so a changed default is followed without an edit here.

The device's clock is taken as set (every frame carries ``time``) and delivery as prompt:
``received_at`` is the instant of sending. Heartbeats come every ``heartbeat_s`` from a phase
fixed by the device id (devices booted at different moments), carrying each role's report.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import roles
from .recording import DeviceSpec, Observation

# (received_at, message) in the device's sending order.
Frame = tuple[float, dict[str, Any]]

# Heartbeat fields no rule reads, with values of a healthy mains-powered device (battery_mv 0:
# no battery, firmware/device.py heartbeat()).
_HEALTHY = {"battery_mv": 0, "rssi": -60, "free_heap": 60_000, "outbox": 0, "rejected": 0}
BOARD = "esp32-devkitc"


def _firmware_dir() -> Path:
    """Where the firmware's source is, found without importing it: the hub imports only the
    hub and the protocol (tests/tools/test_layers.py), the firmware is read as text."""
    spec = importlib.util.find_spec("trygg.firmware")
    if spec is None or not spec.submodule_search_locations:
        raise LookupError("the firmware package (trygg.firmware) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _firmware_source(name: str) -> ast.Module:
    return ast.parse((_firmware_dir() / name).read_text(encoding="utf-8"))


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id == name and node.value is not None):
            return node.value
    raise LookupError(f"firmware: {name} not found")


def _const(node: ast.expr) -> Any:
    """A literal, or ``const(<literal>)`` as MicroPython writes constants."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "const" and len(node.args) == 1):
        node = node.args[0]
    return ast.literal_eval(node)


@functools.cache
def firmware_defaults(role: str) -> dict[str, Any]:
    """The tunables a fresh device of ``role`` has: the settings every device has (``DEFAULTS``
    and ``LOCAL_KEYS`` of ``firmware/config.py``), the role's own (its ``CONFIG``, read by
    trygg.hub.roles from its firmware module), plus the door contact's debounce."""
    config = _firmware_source("config.py")
    values: dict[str, Any] = dict(_const(_assigned(config, "DEFAULTS")))
    for key, spec in _const(_assigned(config, "LOCAL_KEYS")).items():
        values[key] = spec[0]
    values.update(roles.device_facts(role).settings)
    motion = _firmware_source("roles/motion.py")
    values["door_debounce_ms"] = _const(_assigned(motion, "_DOOR_DEBOUNCE_MS"))
    return values


@functools.cache
def firmware_version() -> str:
    """What the firmware reports in its hello (``VERSION`` in firmware/__init__.py)."""
    return str(_const(_assigned(_firmware_source("__init__.py"), "VERSION")))


def tunables(device: DeviceSpec) -> dict[str, Any]:
    """The device's settings: the firmware defaults, the recording's settings for the device,
    and the hub's heartbeat interval for it (which the hub sets on the device)."""
    values = dict(firmware_defaults(device.role))
    values.update(device.firmware)
    if device.heartbeat_s is not None:
        values["heartbeat_s"] = device.heartbeat_s
    return values


def _phase(device_id: str, period: float) -> float:
    """Where in its heartbeat period a device is: fixed per device, spread over devices."""
    return (int(device_id, 16) % 9973) / 9973 * period


class _Sender:
    """The device's side of sending: uptime and time stamps, hello at boot, the frame list.
    Frames at or before ``after`` are only counted (a fall's continuation needs the frames
    after the fall, and their sequence numbers)."""

    def __init__(self, device: DeviceSpec, boot: float, after: float, start: float) -> None:
        self.boot = boot
        self.after = after
        self.frames: list[Frame] = []
        self.skipped = 0
        if boot >= start:  # paired during the recording: its hello is in it
            self._add(boot, {"type": "hello", "uptime": 0, "firmware": firmware_version(),
                             "role": device.role, "board": BOARD, "reset": "power_on"})

    def _add(self, t: float, msg: dict[str, Any]) -> None:
        if t <= self.after:
            self.skipped += 1
            return
        if "type" in msg and msg["type"] != "hello":
            msg["uptime"] = int(t - self.boot)
            msg["time"] = int(t)
        self.frames.append((t, msg))

    def emit(self, t: float, event: str, value: int | None = None) -> None:
        if t <= self.after:
            self.skipped += 1
            return
        msg: dict[str, Any] = {"type": "event", "event": event}
        if value is not None:
            msg["value"] = value
        self._add(t, msg)

    def heartbeat(self, t: float, fields: Mapping[str, Any]) -> None:
        if t <= self.after:
            self.skipped += 1
            return
        self._add(t, {"type": "heartbeat", **_HEALTHY, **fields})


def _heartbeats(device: DeviceSpec, cfg: Mapping[str, Any], start: float,
                end: float) -> tuple[float, list[float]]:
    """(boot time, heartbeat instants up to ``end``)."""
    period = float(cfg["heartbeat_s"])
    boot = device.paired_at if device.paired_at is not None else start - _phase(
        device.device_id, period)
    first = boot + period * max(1, math.ceil((start - boot) / period))
    n = max(0, int((end - first) // period) + 1)
    return boot, [first + i * period for i in range(n)]


def _merge(obs: list[Observation], beats: list[float]) -> Iterable[tuple[float, int, Any]]:
    """Observations and heartbeats in time order; at the same instant the observation first
    (the interrupt is counted before the 1 s tick that sends the heartbeat)."""
    items: list[tuple[float, int, Any]] = [(o.t, 0, o) for o in obs]
    items += [(t, 1, None) for t in beats]
    items.sort(key=lambda x: (x[0], x[1]))
    return items


# --- one function per role ---------------------------------------------------------------------


def motion(device: DeviceSpec, obs: list[Observation], start: float, end: float,
           after: float = -math.inf) -> _Sender:
    """``firmware/roles/motion.py``: the first trigger after a quiet spell is an event at once
    (value 1) and opens a hold-off of ``motion_holdoff_s``; triggers inside it are counted; the
    role's once-a-second tick (the device's feeder loop, in phase with boot, before the
    heartbeat of the same second) ends the hold-off: with triggers counted it reports them
    (value = the count) and opens the next, without it the unit is idle. A door read (after the
    debounce; edges during it make it look again) first reports any count, then the door
    event. Heartbeats carry the triggers since the previous heartbeat."""
    cfg = tunables(device)
    boot, beats = _heartbeats(device, cfg, start, end)
    out = _Sender(device, boot, after, start)
    holdoff = float(cfg["motion_holdoff_s"])
    triggers = pending = 0
    holdoff_end: float | None = None
    doors: list[tuple[float, bool]] = []
    door_obs = [o for o in obs if o.sensor == "door"]
    if door_obs and cfg["door_contact"]:
        doors = _debounced(door_obs, cfg["door_debounce_ms"] / 1000.0)

    def closing_tick(at: float) -> float:
        """The first tick (boot + whole seconds) at or after ``at``."""
        return boot + math.ceil(at - boot - 1e-9)

    def report(t: float) -> None:
        nonlocal pending, holdoff_end
        out.emit(t, "motion", pending)
        pending = 0
        holdoff_end = t + holdoff if holdoff else None  # 0: every trigger at once

    # kind: 0 observation, 1 door read, 2 heartbeat (ticks come between: see below)
    items: list[tuple[float, int, Any]] = [(o.t, 0, o) for o in obs if o.sensor != "door"]
    items += [(t, 1, level) for t, level in doors]
    items += [(t, 2, None) for t in beats]
    items.sort(key=lambda x: (x[0], x[1]))
    items.append((math.inf, 3, None))
    for t, kind, item in items:
        # Hold-offs that end before this instant (a tick at the same instant as a heartbeat
        # comes first; an observation at a tick's instant is counted before it).
        while holdoff_end is not None:
            tick = closing_tick(holdoff_end)
            if tick > t or (tick == t and kind == 0) or tick > end:
                break
            if pending:
                report(tick)
            else:
                holdoff_end = None
        if kind == 3:
            break
        if kind == 2:
            out.heartbeat(t, {"triggers": min(triggers, 65535)})
            triggers = 0
        elif kind == 1:
            if pending:
                report(t)
            out.emit(t, "door_open" if item else "door_close")
        elif item.sensor == "pir":
            triggers += 1
            pending += 1
            if holdoff_end is None:
                report(t)
        elif item.sensor == "button":
            out.emit(t, "button")
    return out


def _debounced(edges: list[Observation], debounce: float) -> list[tuple[float, bool]]:
    """The door task: woken by an edge, it sleeps ``debounce``, reads the level and reports it
    if it differs from the last reported; an edge while it slept wakes it again at once."""
    out: list[tuple[float, bool]] = []
    reported = False  # closed at boot (the hub's state of a door it has not heard from)
    level = False
    i, n = 0, len(edges)
    while i < n:
        read_at = edges[i].t + debounce
        while True:
            woken = False
            while i < n and edges[i].t <= read_at:
                level = bool(edges[i].value)
                i += 1
                woken = True
            if level != reported:
                reported = level
                out.append((read_at, level))
            if not woken or i >= n or edges[i].t > read_at + debounce:
                break
            read_at += debounce
    return out


def bed(device: DeviceSpec, obs: list[Observation], start: float, end: float,
        after: float = -math.inf) -> _Sender:
    """``firmware/roles/bed.py``: the mat is sampled every ``sample_ms``; in bed after the level
    stayed at or above the entering level for ``bed_enter_s``, out after it stayed at or below
    the exit level for ``bed_exit_s``. Occupancy edges stand for the level crossing; a shorter
    crossing (turning over) reports nothing. Heartbeats carry the raw level."""
    cfg = tunables(device)
    boot, beats = _heartbeats(device, cfg, start, end)
    out = _Sender(device, boot, after, start)
    sample = float(cfg["sample_ms"]) / 1000.0
    occupied_level = min(65535, int(cfg["bed_enter_level"]) + 8000)
    empty_level = int(cfg["bed_exit_level"]) // 2

    def on_grid(t: float) -> float:
        return boot + math.ceil((t - boot) / sample - 1e-9) * sample

    edges = [o for o in obs if o.sensor == "bed"]
    toggles: list[tuple[float, bool]] = []
    in_bed = False
    for i, o in enumerate(edges):
        if bool(o.value) == in_bed:
            continue
        hold = cfg["bed_enter_s"] if o.value else cfg["bed_exit_s"]
        at = on_grid(o.t) + hold
        following = edges[i + 1].t if i + 1 < len(edges) else math.inf
        if following > at:
            in_bed = bool(o.value)
            toggles.append((at, in_bed))
    occupied = False
    items: list[tuple[float, int, Any]] = [(t, 0, v) for t, v in toggles]
    items += [(t, 2, None) for t in beats]
    items += [(o.t, 1, o) for o in obs if o.sensor == "button"]
    items.sort(key=lambda x: (x[0], x[1]))
    for t, kind, v in items:
        if kind == 0:
            occupied = v
            out.emit(t, "bed_in" if v else "bed_out")
        elif kind == 1:
            out.emit(t, "button")
        else:
            out.heartbeat(t, {"level": occupied_level if occupied else empty_level})
    return out


def smoke(device: DeviceSpec, obs: list[Observation], start: float, end: float,
          after: float = -math.inf) -> _Sender:
    """``firmware/roles/smoke.py``: the relay's edges are sent at once (urgent class)."""
    cfg = tunables(device)
    boot, beats = _heartbeats(device, cfg, start, end)
    out = _Sender(device, boot, after, start)
    active = False
    for t, kind, o in _merge(obs, beats):
        if kind == 1:
            out.heartbeat(t, {})
        elif o.sensor == "smoke" and bool(o.value) != active:
            active = bool(o.value)
            out.emit(t, "smoke_alarm" if active else "smoke_clear")
        elif o.sensor == "button":
            out.emit(t, "button")
    return out


def dispenser(device: DeviceSpec, obs: list[Observation], start: float, end: float,
              after: float = -math.inf) -> _Sender:
    """``firmware/roles/dispenser.py`` without doses (a recording of doses gives the device's
    events): heartbeats with a full carousel."""
    cfg = tunables(device)
    boot, beats = _heartbeats(device, cfg, start, end)
    out = _Sender(device, boot, after, start)
    for t, kind, o in _merge(obs, beats):
        if kind == 1:
            out.heartbeat(t, {"stock": min(255, int(cfg["carousel_slots"]))})
        elif o.sensor == "button":
            out.emit(t, "button")
    return out


def call_point(device: DeviceSpec, obs: list[Observation], start: float, end: float,
               after: float = -math.inf) -> _Sender:
    """``firmware/roles/call_point.py``: a pull or press is sent at once (urgent class)."""
    cfg = tunables(device)
    boot, beats = _heartbeats(device, cfg, start, end)
    out = _Sender(device, boot, after, start)
    for t, kind, o in _merge(obs, beats):
        if kind == 1:
            out.heartbeat(t, {})
        elif o.sensor == "button":
            out.emit(t, "button")
    return out


ROLES: dict[str, Callable[..., _Sender]] = {
    "motion": motion, "bed": bed, "smoke": smoke, "dispenser": dispenser,
    "call_point": call_point}


def frames(device: DeviceSpec, obs: list[Observation], start: float, end: float,
           after: float = -math.inf) -> list[tuple[float, int, dict[str, Any]]]:
    """The frames ``device`` sends from ``start`` to ``end`` for its observations, as
    (received_at, sequence number, message) in sending order; with ``after``, only those
    sent after it (numbered as in the whole stream)."""
    ordered = sorted(obs, key=lambda o: o.t)
    sender = ROLES[device.role](device, ordered, start, end, after)
    result = sorted(sender.frames, key=lambda f: f[0])  # stable: same instant, sending order
    first = sender.skipped
    return [(t, first + i, msg) for i, (t, msg) in enumerate(result)]
