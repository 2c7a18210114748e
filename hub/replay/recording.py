"""The recording format, version 1: a home's configuration and what its devices saw or sent.

JSON Lines (one JSON object per line, UTF-8). The first line is the header, then device
declarations, then records in any order (the replay orders them by time, ties in file order).
The normative description with examples is ``hub/replay/README.md``; in short::

    {"format": "trygg-recording", "version": 1, "start": 1736290800, "end": 1738882800,
     "hub_toml": "[hub]\\nid = \\"home-1\\"\\n[[residents]]\\n...", "source": "...",
     "derived": "...", "about": {...}}
    {"type": "device", "id": "a00000000001", "role": "motion", "room": "hall",
     "resident": "resident-1", "input": "observations", "firmware": {"door_contact": true}}
    {"type": "obs", "t": 1736312400.5, "device": "a00000000001", "sensor": "pir"}
    {"type": "obs", "t": 1736312410.0, "device": "a00000000001", "sensor": "door", "value": true}
    {"type": "msg", "t": 1736312411.2, "device": "b00000000001", "seq": 17,
     "msg": {"type": "event", "event": "bed_out", "uptime": 5000, "time": 1736312411}}
    {"type": "hub", "t": 1736312500, "event": "away_on", "resident": "resident-1"}

A device's ``input`` says which kind of record it has: ``observations`` (raw sensor
observations, turned into frames by :mod:`.firmware_model` as the firmware would send them) or
``events`` (the messages the device sent, as stored by the hub). Everything is checked as
hostile input: an error names the file, the line and what is wrong (:class:`RecordingError`).
Unknown keys are errors, so a typo never silently changes a result; ``about`` is free-form.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from trygg.protocol import cose, messages
from trygg.protocol.errors import ProtocolError

from .. import config as hub_config
from ..broker import DEVICE_ID_RE
from ..rules import model as rules_model

FORMAT = "trygg-recording"
VERSION = 1

# Limits on hostile input. A header carries the home's TOML (a few KB); 1 MiB leaves room for
# many residents without letting one line exhaust memory. Records are small (< 300 bytes).
MAX_HEADER_BYTES = 1 << 20
MAX_RECORD_BYTES = 4096
# A year and a bit: the hub keeps 90 days of events by default, and a replay holds the whole
# recording in memory (about 200 bytes a record).
MAX_SPAN_S = 400 * 86400.0
MAX_RECORDS = 20_000_000
MAX_DEVICES = 998  # ARC zones 1..998 (999 is the hub's own)

INPUTS = ("observations", "events")
# Raw sensors: name -> whether an observation carries a boolean ``value`` (an edge) or is an
# instant. door: true = open; bed: true = occupied; smoke: true = the alarm's relay active.
SENSORS = {"pir": False, "door": True, "bed": True, "smoke": True, "button": False}
# Which sensors each role has (a motion unit's door contact needs firmware door_contact).
ROLE_SENSORS = {
    "motion": ("pir", "door", "button"),
    "bed": ("bed", "button"),
    "smoke": ("smoke", "button"),
    "dispenser": ("button",),
    "call_point": ("button",),
}
HUB_EVENTS = (rules_model.HUB_AWAY_ON, rules_model.HUB_AWAY_OFF, rules_model.HUB_RESOLVE_ALARM,
              rules_model.HUB_ALARM_ACKNOWLEDGED, rules_model.HUB_REJECTED_FRAMES,
              rules_model.HUB_REJECTED_FRAMES_CLEAR)


class RecordingError(ValueError):
    """The recording is unusable; the message is ``<file>:<line>: <what is wrong>``."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    device_id: str
    role: str
    room: str | None
    resident_id: str
    input: str  # observations | events
    zone: int | None = None  # None: the next free zone, as pairing assigns it
    heartbeat_s: float | None = None  # the hub's setting for the device (None: the default)
    firmware: Mapping[str, Any] = field(default_factory=dict)  # tunables set on the device
    paired_at: float | None = None  # None: the recording's start


@dataclass(frozen=True, slots=True)
class Observation:
    t: float
    device_id: str
    sensor: str
    value: bool | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    t: float  # when the hub received it (its clock)
    device_id: str
    seq: int | None
    msg: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HubRecord:
    t: float
    event: str
    resident_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recording:
    start: float
    end: float
    hub_toml: str
    devices: list[DeviceSpec]
    observations: list[Observation] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    hub_events: list[HubRecord] = field(default_factory=list)
    source: str = ""
    derived: str = ""
    about: dict[str, Any] = field(default_factory=dict)
    origin: str = "<recording>"  # file name for messages

    def config(self, settings: Sequence[str] = ()) -> hub_config.HubConfig:
        """The home's configuration, with ``--set NAME=VALUE`` settings laid over it."""
        return home_config(self.hub_toml, f"{self.origin}: hub_toml", settings)

    def device(self, device_id: str) -> DeviceSpec:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        raise KeyError(device_id)


# --- configuration ---------------------------------------------------------------------------


def home_config(text: str, source: str, settings: Sequence[str] = ()) -> hub_config.HubConfig:
    """Parse a home's hub TOML for a replay. ``[hub] database`` may be left out and ``[arc]`` is
    ignored: a replay opens a temporary store and forwards nothing. ``settings`` are
    ``NAME=VALUE`` (see :func:`apply_setting`). Raises ``ConfigError``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise hub_config.ConfigError(f"{source}: not valid TOML: {exc}") from None
    data.pop("arc", None)
    hub = data.get("hub")
    if isinstance(hub, dict):
        hub.setdefault("database", ":memory:")
    if not settings:
        return hub_config.parse(data, source)
    hub_config.parse(data, source)  # the home's own configuration first: its errors are its own
    for setting in settings:
        apply_setting(data, setting)
    try:
        return hub_config.parse(data, source)
    except hub_config.ConfigError as exc:
        raise hub_config.ConfigError(f"--set {' --set '.join(settings)}: {exc}") from None


def apply_setting(data: dict[str, Any], setting: str) -> None:
    """Lay ``NAME=VALUE`` over a parsed hub TOML document, for ``--set``.

    ``NAME`` is a key of a ``[[residents]]`` table (``latest_rise``,
    ``thresholds.still_ceiling_min``), set for every resident; ``<resident-id>.<key>`` for one
    resident; ``hub.<key>`` for the ``[hub]`` table. ``VALUE`` is a TOML value (``2.5``,
    ``true``, ``"x"``, ``["bathroom", "wc"]``) or else taken as text (``07:30``). Validation is
    the configuration's own (``hub_config.parse``); raises ``ConfigError`` for a setting that
    names no table."""
    name, sep, raw = setting.partition("=")
    name = name.strip()
    if not sep or not name:
        raise hub_config.ConfigError(f"--set {setting!r}: use NAME=VALUE, e.g. "
                                     "thresholds.still_ceiling_min=180")
    try:
        value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    parts = name.split(".")
    if any(not p for p in parts):
        raise hub_config.ConfigError(f"--set {name}: empty part in the name")
    residents = data.get("residents")
    targets: list[dict[str, Any]]
    if parts[0] == "hub":
        hub = data.setdefault("hub", {})
        targets, parts = [hub], parts[1:]
    elif isinstance(residents, list) and len(parts) > 1 and any(
            isinstance(r, dict) and r.get("id") == parts[0] for r in residents):
        targets = [r for r in residents if isinstance(r, dict) and r.get("id") == parts[0]]
        parts = parts[1:]
    else:
        targets = [r for r in residents if isinstance(r, dict)] if isinstance(residents,
                                                                                list) else []
    if not targets or not parts:
        raise hub_config.ConfigError(f"--set {name}: names no setting (use a resident key such "
                                     "as thresholds.still_ceiling_min, <resident>.<key> or "
                                     "hub.<key>)")
    for table in targets:
        for p in parts[:-1]:
            sub = table.setdefault(p, {})
            if not isinstance(sub, dict):
                raise hub_config.ConfigError(f"--set {name}: {p} is not a table")
            table = sub
        table[parts[-1]] = value


# --- reading ----------------------------------------------------------------------------------


class _Line:
    """Checked access to one record, naming the file and line in every error."""

    def __init__(self, where: str, obj: dict[str, Any]) -> None:
        self.where = where
        self.obj = obj
        self.used: set[str] = set()

    def error(self, why: str) -> RecordingError:
        return RecordingError(f"{self.where}: {why}")

    def get(self, key: str, required: bool = True) -> Any:
        self.used.add(key)
        if key not in self.obj:
            if required:
                raise self.error(f"{key!r} missing")
            return None
        return self.obj[key]

    def time(self, key: str, lo: float = 0.0, hi: float = 2.0**32) -> float:
        v = self.get(key)
        if not _is_number(v) or not lo <= v <= hi:
            raise self.error(f"{key!r}: {v!r} is not a time in {lo:.0f}..{hi:.0f} "
                             "(UTC epoch seconds)")
        return float(v)

    def text(self, key: str, required: bool = True, limit: int = 64) -> str | None:
        v = self.get(key, required)
        if v is None and not required:
            return None
        if not isinstance(v, str) or not v or len(v) > limit:
            raise self.error(f"{key!r}: {v!r} is not text of 1..{limit} characters")
        return v

    def finish(self) -> None:
        unknown = sorted(set(self.obj) - self.used)
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r} (known: "
                             + ", ".join(sorted(self.used)) + ")")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


_decoder = json.JSONDecoder(object_pairs_hook=_object_pairs, parse_constant=_reject_constant)


def _parse_line(raw: bytes, where: str, limit: int) -> dict[str, Any] | None:
    if len(raw) > limit:
        raise RecordingError(f"{where}: line of {len(raw)} bytes, at most {limit} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        return None
    try:
        obj = _decoder.decode(text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError, as are the hooks'
        raise RecordingError(f"{where}: not a JSON object: {exc}") from None
    if not isinstance(obj, dict):
        raise RecordingError(f"{where}: a line must be a JSON object, got "
                             f"{type(obj).__name__}")
    return obj


def _lines(stream: IO[bytes], origin: str) -> Iterator[tuple[str, dict[str, Any]]]:
    number = 0
    while True:
        limit = MAX_HEADER_BYTES if number == 0 else MAX_RECORD_BYTES
        raw = stream.readline(limit + 2)
        if not raw:
            return
        number += 1
        if number > MAX_RECORDS:
            raise RecordingError(f"{origin}:{number}: more than {MAX_RECORDS} lines")
        where = f"{origin}:{number}"
        if not raw.endswith(b"\n") and len(raw) > limit:
            raise RecordingError(f"{where}: line longer than {limit} bytes")
        obj = _parse_line(raw.rstrip(b"\r\n"), where, limit)
        if obj is not None:
            yield where, obj


def load(path: str | Path) -> Recording:
    """Read and check a recording file. Raises :class:`RecordingError`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return read(f, str(p), p.parent)
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read: {exc.strerror or exc}") from None


def read(stream: IO[bytes], origin: str = "<recording>",
         base_dir: Path | None = None) -> Recording:
    lines = _lines(stream, origin)
    first = next(lines, None)
    if first is None:
        raise RecordingError(f"{origin}:1: empty file; a recording starts with the header "
                             f'{{"format": "{FORMAT}", "version": {VERSION}, ...}}')
    rec = _header(*first, origin, base_dir)
    resident_ids = [r.id for r in rec.config().residents]
    devices: dict[str, DeviceSpec] = {}
    zones: set[int] = set()
    seqs: dict[str, set[int]] = {}
    unnumbered: dict[str, bool] = {}
    door_contact: dict[str, bool] = {}
    for where, obj in lines:
        line = _Line(where, obj)
        kind = line.get("type")
        if kind == "device":
            spec = _device(line, rec, resident_ids, devices, zones)
            devices[spec.device_id] = spec
            door_contact[spec.device_id] = bool(spec.firmware.get("door_contact", False))
        elif kind == "obs":
            device = _known_device(line, devices, "observations")
            t = line.time("t", rec.start, rec.end)
            sensor = line.get("sensor")
            if sensor not in SENSORS:
                raise line.error(f"sensor {sensor!r}: one of {', '.join(SENSORS)}")
            if sensor not in ROLE_SENSORS[device.role]:
                raise line.error(f"sensor {sensor!r}: a {device.role} device has "
                                 + ", ".join(ROLE_SENSORS[device.role]))
            if sensor == "door" and not door_contact[device.device_id]:
                raise line.error(f"device {device.device_id}: door observations need its "
                                 'firmware setting "door_contact": true')
            value: bool | None = None
            if SENSORS[sensor]:
                value = line.get("value", required=False)
                if not isinstance(value, bool):
                    raise line.error(f"value {value!r}: {sensor} needs true or false")
            line.finish()
            rec.observations.append(Observation(t, device.device_id, sensor, value))
        elif kind == "msg":
            device = _known_device(line, devices, "events")
            t = line.time("t", rec.start, rec.end)
            seq = line.get("seq", required=False)
            numbered = seq is not None
            if unnumbered.setdefault(device.device_id, not numbered) == numbered:
                raise line.error(f"device {device.device_id}: give every msg a seq or none")
            if numbered:
                if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**32:
                    raise line.error(f"seq {seq!r}: an integer 0..2**32-1")
                used = seqs.setdefault(device.device_id, set())
                if seq in used:
                    raise line.error(f"device {device.device_id}: seq {seq} appears twice")
                used.add(seq)
            msg = line.get("msg")
            line.finish()
            rec.messages.append(SentMessage(t, device.device_id, seq, _message(line, msg)))
        elif kind == "hub":
            t = line.time("t", rec.start, rec.end)
            event = line.get("event")
            if event not in HUB_EVENTS:
                raise line.error(f"hub event {event!r}: one of {', '.join(HUB_EVENTS)}")
            resident = line.text("resident", required=False)
            detail = line.get("detail", required=False) or {}
            if not isinstance(detail, dict) or not all(
                    isinstance(v, str | int | float | bool) for v in detail.values()):
                raise line.error("detail: an object of strings, numbers and booleans")
            line.finish()
            rec.hub_events.append(HubRecord(t, event, resident, detail))
        else:
            raise line.error(f"type {kind!r}: one of device, obs, msg, hub")
    rec.devices = list(devices.values())
    _check_residents(rec)
    return rec


def _header(where: str, obj: dict[str, Any], origin: str, base_dir: Path | None) -> Recording:
    line = _Line(where, obj)
    if line.get("format", required=False) != FORMAT:
        raise line.error(f'not a recording: the first line must be {{"format": "{FORMAT}", '
                         f'"version": {VERSION}, ...}}')
    version = line.get("version")
    if version != VERSION:
        raise line.error(f"version {version!r}: this hub reads version {VERSION}")
    start = line.time("start")
    end = line.time("end")
    if not start < end <= start + MAX_SPAN_S:
        raise line.error(f"end must be after start and at most {MAX_SPAN_S / 86400:.0f} days "
                         "later")
    toml = line.get("hub_toml", required=False)
    toml_file = line.get("hub_toml_file", required=False)
    if (toml is None) == (toml_file is None):
        raise line.error("give the home's configuration as hub_toml (TOML text) or "
                         "hub_toml_file (a path relative to the recording), one of them")
    if toml_file is not None:
        if not isinstance(toml_file, str) or not toml_file:
            raise line.error(f"hub_toml_file {toml_file!r}: a path")
        path = Path(toml_file) if base_dir is None else base_dir / toml_file
        try:
            toml = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise line.error(f"hub_toml_file {toml_file!r}: cannot read {path}: {exc}") from None
    if not isinstance(toml, str):
        raise line.error("hub_toml: TOML text")
    source = line.get("source", required=False) or ""
    derived = line.get("derived", required=False) or ""
    about = line.get("about", required=False) or {}
    if not isinstance(source, str) or not isinstance(derived, str):
        raise line.error("source and derived: text")
    if not isinstance(about, dict):
        raise line.error("about: an object")
    line.finish()
    rec = Recording(start, end, toml, [], source=source, derived=derived, about=about,
                    origin=origin)
    try:
        rec.config()
    except hub_config.ConfigError as exc:
        raise line.error(str(exc)) from None
    return rec


def _device(line: _Line, rec: Recording, residents: list[str],
            devices: dict[str, DeviceSpec], zones: set[int]) -> DeviceSpec:
    device_id = line.get("id")
    if not isinstance(device_id, str) or not DEVICE_ID_RE.match(device_id):
        raise line.error(f"id {device_id!r}: 12 lowercase hex digits (the device id)")
    if device_id in devices:
        raise line.error(f"device {device_id} declared twice")
    if len(devices) >= MAX_DEVICES:
        raise line.error(f"more than {MAX_DEVICES} devices")
    role = line.get("role")
    if role not in messages.ROLES:
        raise line.error(f"role {role!r}: one of {', '.join(messages.ROLES)}")
    room = line.get("room", required=False)
    if room is not None and (not isinstance(room, str) or not 1 <= len(room.encode()) <= 16):
        raise line.error(f"room {room!r}: 1..16 bytes of text")
    resident = line.text("resident")
    assert resident is not None
    if resident not in residents:
        raise line.error(f"resident {resident!r} is not in hub_toml ({', '.join(residents)})")
    source = line.get("input")
    if source not in INPUTS:
        raise line.error(f"input {source!r}: observations (raw sensor observations) or events "
                         "(the messages the device sent)")
    zone = line.get("zone", required=False)
    if zone is not None:
        if not isinstance(zone, int) or isinstance(zone, bool) or not 1 <= zone <= MAX_DEVICES:
            raise line.error(f"zone {zone!r}: 1..{MAX_DEVICES}")
        if zone in zones:
            raise line.error(f"zone {zone} is used by another device")
        zones.add(zone)
    heartbeat = line.get("heartbeat_s", required=False)
    if heartbeat is not None and (not _is_number(heartbeat) or not 1 <= heartbeat <= 86400):
        raise line.error(f"heartbeat_s {heartbeat!r}: seconds 1..86400")
    firmware = line.get("firmware", required=False) or {}
    if not isinstance(firmware, dict):
        raise line.error("firmware: an object of device settings")
    for key, value in firmware.items():
        spec = messages.CONFIG_KEYS.get(key)
        if spec is None or key == "room":
            raise line.error(f"firmware.{key}: not a device setting (known: "
                             + ", ".join(k for k in messages.CONFIG_KEYS if k != "room") + ")")
        _, kind, lo, hi = spec
        ok = (isinstance(value, bool) if kind == "bool" else
              isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi)
        if not ok:
            raise line.error(f"firmware.{key}: {value!r} is not "
                             + ("true or false" if kind == "bool" else f"an integer {lo}..{hi}"))
    paired = line.get("paired_at", required=False)
    if paired is not None and (not _is_number(paired) or paired > rec.end):
        raise line.error(f"paired_at {paired!r}: a time before the recording's end")
    line.finish()
    return DeviceSpec(device_id, role, room, resident, source, zone,
                      None if heartbeat is None else float(heartbeat), dict(firmware),
                      None if paired is None else float(paired))


def _known_device(line: _Line, devices: dict[str, DeviceSpec], source: str) -> DeviceSpec:
    device_id = line.get("device")
    device = devices.get(device_id) if isinstance(device_id, str) else None
    if device is None:
        raise line.error(f"device {device_id!r} is not declared above (a "
                         '{"type": "device", ...} line)')
    if device.input != source:
        raise line.error(f"device {device_id} has input {device.input!r}; this record belongs "
                         f"to input {source!r}")
    return device


def _message(line: _Line, msg: Any) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise line.error("msg: the message object the device sent")
    if messages.TYPES.get(str(msg.get("type")), (0, None))[1] != cose.UP:
        raise line.error(f"msg.type {msg.get('type')!r}: one of "
                         + ", ".join(k for k, v in messages.TYPES.items() if v[1] == cose.UP))
    try:
        messages.to_wire(msg)
    except ProtocolError as exc:
        raise line.error(f"msg: {exc}") from None
    return msg


def _check_residents(rec: Recording) -> None:
    residents = {r.id for r in rec.config().residents}
    for h in rec.hub_events:
        if h.resident_id is not None and h.resident_id not in residents:
            raise RecordingError(f"{rec.origin}: hub event {h.event} at {h.t}: resident "
                                 f"{h.resident_id!r} is not in hub_toml")


# --- writing ----------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def records(rec: Recording) -> Iterator[str]:
    """The recording as lines (without newlines): header, devices, then records by time."""
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "start": rec.start,
                              "end": rec.end, "hub_toml": rec.hub_toml}
    if rec.source:
        header["source"] = rec.source
    if rec.derived:
        header["derived"] = rec.derived
    if rec.about:
        header["about"] = rec.about
    yield _dumps(header)
    for d in rec.devices:
        obj: dict[str, Any] = {"type": "device", "id": d.device_id, "role": d.role,
                               "room": d.room, "resident": d.resident_id, "input": d.input}
        if d.room is None:
            del obj["room"]
        if d.zone is not None:
            obj["zone"] = d.zone
        if d.heartbeat_s is not None:
            obj["heartbeat_s"] = d.heartbeat_s
        if d.firmware:
            obj["firmware"] = dict(d.firmware)
        if d.paired_at is not None:
            obj["paired_at"] = d.paired_at
        yield _dumps(obj)
    lines: list[tuple[float, int, str]] = []
    for i, o in enumerate(rec.observations):
        ob: dict[str, Any] = {"type": "obs", "t": o.t, "device": o.device_id,
                              "sensor": o.sensor}
        if o.value is not None:
            ob["value"] = o.value
        lines.append((o.t, i, _dumps(ob)))
    n = len(lines)
    for i, m in enumerate(rec.messages):
        om: dict[str, Any] = {"type": "msg", "t": m.t, "device": m.device_id}
        if m.seq is not None:
            om["seq"] = m.seq
        om["msg"] = m.msg
        lines.append((m.t, n + i, _dumps(om)))
    n = len(lines)
    for i, h in enumerate(rec.hub_events):
        oh: dict[str, Any] = {"type": "hub", "t": h.t, "event": h.event}
        if h.resident_id is not None:
            oh["resident"] = h.resident_id
        if h.detail:
            oh["detail"] = h.detail
        lines.append((h.t, n + i, _dumps(oh)))
    lines.sort(key=lambda x: (x[0], x[1]))
    for _, _, text in lines:
        yield text


def write(rec: Recording, stream: IO[str]) -> None:
    for text in records(rec):
        stream.write(text)
        stream.write("\n")


def save(rec: Recording, path: str | Path) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        write(rec, f)


def loads(text: str, origin: str = "<recording>") -> Recording:
    """Read a recording held in memory (tests, the benchmark's generated homes)."""
    import io

    return read(io.BytesIO(text.encode("utf-8")), origin)


def iter_devices(rec: Recording, input_kind: str) -> Iterable[DeviceSpec]:
    return (d for d in rec.devices if d.input == input_kind)
