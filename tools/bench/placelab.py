"""Import the MIT House_n / PlaceLab recordings (Munguia Tapia 2003) as Trygg recordings.

E. Munguia Tapia, S. S. Intille, K. Larson. Activity Recognition in the Home Using Simple and
Ubiquitous Sensors. Pervasive 2004, LNCS 3001, pp. 158-175. Two single-person apartments, about
two weeks each, 77 and 84 reed switches on doors, drawers, cupboards, appliances, taps, light
switches and the toilet flush. The files are read where they are (``../shared/datasets/
placelab``), never copied into the repository.

The homes had no PIR and no bed mat, so those signals are DERIVED, and every figure from them
must say so (the recording's ``derived`` text does):

* room motion: a PIR trigger at every use of an object in that room (opening and closing);
  within one annotated activity, between uses of objects in the same room less than 10 min
  apart, a trigger every 60 s (a person using things in a room is seen by its PIR);
* front door: the door contact used in most "Going out" activities, open at its activation,
  closed at its deactivation (10 s later when that is missing or implausible);
* bed occupancy: there is no sleeping annotation; a quiet stretch of 45 min or more without any
  object use that begins in the evening or night (19:00-06:00) and ends by 13:00 is taken as
  in bed, from 2 min after the last use before it to 1 min before the first use after it, with
  a bedroom trigger at getting in and out; night toilet visits split it.

The file is organised by activity, so object use outside the annotated activities is missing:
long daytime gaps are gaps in the annotation as much as in the resident's activity.

Fall moments (``about.fall_moments``) are taken from the same derivation: night bed exits,
morning rises, bathroom use in annotated activities, daytime object use per room, door closes
followed by use inside (after a quiet half hour: a return home).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import re
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trygg.hub.replay.recording import DeviceSpec, Observation, Recording, RecordingError

ZONE = "America/New_York"  # Cambridge, Massachusetts
FILL_GAP_S = 600.0  # uses in one room closer than this are one stay in that room ...
FILL_EVERY_S = 60.0  # ... during which its PIR triggers this often
MAX_USE_S = 600.0  # an object's deactivation later than this is not the person still there
BED_MIN_GAP_S = 45 * 60.0
DOOR_OPEN_S = 10.0

DERIVED = ("room motion from object use in each room (a trigger per use, every 60 s between "
           "uses in one room within an activity), bed occupancy from quiet night stretches "
           "(no sleeping annotation exists), the front door from its reed switch; object use "
           "outside annotated activities is missing")


class PlacelabError(RecordingError):
    """A PlaceLab file is not in the expected format; names file and line."""


@dataclass(frozen=True)
class Sensor:
    sensor_id: str
    room: str  # as in the file
    thing: str


@dataclass(frozen=True)
class Use:
    """One object use in one annotated activity."""

    record: int  # index of the activity record
    activity: str
    sensor_id: str
    on: float
    off: float | None


def subjects(directory: Path) -> tuple[list[Path], str]:
    """The subject folders under ``directory`` and a note for the benchmark's output."""
    if not directory.is_dir():
        return [], (f"absent ({directory} not found): placelab homes not measured; "
                    "see /work/shared/datasets/README.md")
    found = sorted(p for p in directory.iterdir()
                   if p.is_dir() and (p / "activities_data.csv").is_file()
                   and (p / "sensors.csv").is_file())
    if not found:
        return [], f"absent (no subject folders in {directory})"
    return found, (f"{directory}: {len(found)} homes (MIT PlaceLab, Munguia Tapia 2003; "
                   "signals derived, see below)")


def _room_id(name: str) -> str:
    room = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return room[:16] or "room"


def read_sensors(path: Path) -> dict[str, Sensor]:
    out: dict[str, Sensor] = {}
    for number, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not all(parts):
            raise PlacelabError(f"{path}:{number}: expected SENSOR_ID,LOCATION,OBJECT, got "
                                f"{line[:60]!r}")
        out[parts[0]] = Sensor(parts[0], parts[1], parts[2])
    if not out:
        raise PlacelabError(f"{path}:1: no sensors")
    return out


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PlacelabError(f"{path}: cannot read: {exc.strerror or exc}") from None


_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{1,2}):(\d{1,2})$")


def _clock(text: str, where: str) -> int:
    m = _TIME.match(text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3)) > 59:
        raise PlacelabError(f"{where}: {text!r} is not a time h:m:s")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


@dataclass
class _Record:
    line: int
    activity: str
    label: tuple[int, int, int]  # (year, month, day) as written, possibly impossible
    start: int  # seconds of day
    end: int
    ids: list[str]
    on: list[int]
    off: list[int]


def read_activities(path: Path) -> list[_Record]:
    lines = _text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 5:
        raise PlacelabError(f"{path}:{len(lines)}: {len(lines)} lines; the file has records of "
                            "5 lines (activity, sensor ids, objects, on times, off times)")
    out: list[_Record] = []
    for i in range(0, len(lines), 5):
        where = f"{path}:{i + 1}"
        head = [p.strip() for p in lines[i].split(",")]
        if len(head) != 4:
            raise PlacelabError(f"{where}: expected ACTIVITY,DATE,START,END, got "
                                f"{lines[i][:60]!r}")
        m = _DATE.match(head[1])
        if not m or not 1 <= int(m.group(1)) <= 12 or not 1 <= int(m.group(2)) <= 31:
            raise PlacelabError(f"{where}: {head[1]!r} is not a date m/d/yyyy")
        rows = [[p.strip() for p in lines[i + k].split(",") if p.strip()] for k in (1, 2, 3, 4)]
        if len({len(rows[0]), len(rows[2]), len(rows[3])}) != 1:
            raise PlacelabError(f"{path}:{i + 2}: sensor ids, on and off times differ in "
                                f"number ({len(rows[0])}, {len(rows[2])}, {len(rows[3])})")
        out.append(_Record(
            i + 1, head[0], (int(m.group(3)), int(m.group(1)), int(m.group(2))),
            _clock(head[2], where), _clock(head[3], where), rows[0],
            [_clock(t, f"{path}:{i + 4}") for t in rows[2]],
            [_clock(t, f"{path}:{i + 5}") for t in rows[3]]))
    if not out:
        raise PlacelabError(f"{path}:1: no activity records")
    return out


def _days(labels: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int, int], dt.date]:
    """Date labels to dates. A few labels are impossible (4/31/2003): such a label is read as
    the day after the previous one, and later labels move on so that no two labels share a
    day (the recording's days are consecutive)."""
    out: dict[tuple[int, int, int], dt.date] = {}
    previous: dt.date | None = None
    for y, m, d in sorted(set(labels)):
        natural = dt.date(y, m, 1) + dt.timedelta(days=d - 1)
        if previous is not None and natural <= previous:
            natural = previous + dt.timedelta(days=1)
        out[(y, m, d)] = natural
        previous = natural
    return out


def _uses(records: list[_Record], zone: zoneinfo.ZoneInfo) -> list[Use]:
    days = _days(r.label for r in records)
    out: list[Use] = []
    for index, r in enumerate(records):
        day = days[r.label]

        def at(seconds: int, day: dt.date = day, start: int = r.start) -> float:
            # Times past midnight within an activity that began late in the evening.
            d = day + dt.timedelta(days=1) if seconds < start - 6 * 3600 else day
            base = dt.datetime(d.year, d.month, d.day, tzinfo=zone)
            return (base + dt.timedelta(seconds=seconds)).timestamp()

        for sensor_id, on, off in zip(r.ids, r.on, r.off, strict=True):
            t_on = at(on)
            t_off = at(off)
            if t_off < t_on:
                t_off += 86400.0
            out.append(Use(index, r.activity, sensor_id, t_on,
                           t_off if t_off - t_on <= MAX_USE_S else None))
    out.sort(key=lambda u: u.on)
    return out


def load_subject(directory: Path, days: int = 0) -> Recording:
    """One subject folder as a recording (``days`` > 0: only the first ``days`` days)."""
    zone = zoneinfo.ZoneInfo(ZONE)
    sensors = read_sensors(directory / "sensors.csv")
    records = read_activities(directory / "activities_data.csv")
    uses = [u for u in _uses(records, zone) if u.sensor_id in sensors]
    if not uses:
        raise PlacelabError(f"{directory / 'activities_data.csv'}:1: no use of a known sensor")
    first = dt.datetime.fromtimestamp(uses[0].on, zone).date()
    last = dt.datetime.fromtimestamp(uses[-1].on, zone).date()
    if days > 0:
        last = min(last, first + dt.timedelta(days=days - 1))
    start = dt.datetime(first.year, first.month, first.day, tzinfo=zone).timestamp()
    end_day = last + dt.timedelta(days=1)
    end = dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone).timestamp()
    uses = [u for u in uses if start <= u.on < end]

    door_id = _front_door(records, sensors)
    door_room = _room_id(sensors[door_id].room) if door_id else "hall"
    room_of = {s: (door_room if _room_id(v.room) == "porch" else _room_id(v.room))
               for s, v in sensors.items()}
    rooms = sorted(set(room_of.values()) | {"bedroom"})
    pir = {room: f"9a{i + 1:010x}" for i, room in enumerate(rooms)}
    bed_id = "9b0000000001"

    obs: list[Observation] = []
    moments: list[tuple[float, str, str]] = []
    _motion(uses, room_of, pir, door_id, obs, moments, zone)
    doors = _door(uses, door_id, pir.get(door_room), obs)
    sleep = _bed(uses, bed_id, pir["bedroom"], obs, zone)
    moments += _bed_moments(sleep, zone)
    moments += _door_moments(doors, uses, door_room)
    obs = [o for o in obs if start <= o.t <= end]
    obs.sort(key=lambda o: (o.t, o.device_id))
    devices = [DeviceSpec(pir[room], "motion", room, "resident-1", "observations",
                          firmware={"door_contact": True} if room == door_room and door_id
                          else {})
               for room in rooms]
    devices.append(DeviceSpec(bed_id, "bed", "bedroom", "resident-1", "observations"))
    name = directory.name
    toml = (f'[hub]\nid = "placelab-{_room_id(name).replace("_", "-")}"\n\n[[residents]]\n'
            f'id = "resident-1"\narc_account = "2001"\ntimezone = "{ZONE}"\n')
    moments = [m for m in moments if start < m[0] < end - 3600]
    return Recording(
        start, end, toml, devices, obs,
        source=f"MIT PlaceLab (House_n), Munguia Tapia 2003, {name}: {directory}",
        derived=DERIVED,
        about={"importer": "tools/bench/placelab.py", "subject": name,
               "front_door_sensor": door_id,
               "fall_moments": [[round(t, 1), c, r] for t, c, r in sorted(moments)],
               "resident_states": _states(sleep, _outings(uses, door_id), start, end)})


def _outings(uses: list[Use], door_id: str | None) -> list[tuple[float, float]]:
    """Out of the home: from the door closing in a "Going out ..." activity to the next use of
    anything after it (the door opening on the way back, or an object inside)."""
    out: list[tuple[float, float]] = []
    if door_id is None:
        return out
    ons = [u.on for u in uses]
    for u in uses:
        if u.sensor_id != door_id or not u.activity.lower().startswith("going out"):
            continue
        closed = u.off if u.off is not None and u.off > u.on else u.on + DOOR_OPEN_S
        i = bisect.bisect_right(ons, closed + 1.0)
        if i < len(ons) and (not out or closed > out[-1][1]):
            out.append((closed, ons[i]))
    return out


def _states(sleep: list[tuple[float, float]], outings: list[tuple[float, float]], start: float,
            end: float) -> list[list[Any]]:
    """``[from, to, state]`` spans as the benchmark's answer model needs them, DERIVED: asleep
    in the derived bed stays (there is no sleeping annotation), out during the derived outings,
    awake at home otherwise (including unannotated stretches, where she may in truth have been
    out or asleep)."""
    marks = sorted([(a, b, "asleep") for a, b in sleep] + [(a, b, "out") for a, b in outings])
    spans: list[list[Any]] = []
    t = start
    for a, b, state in marks:
        a, b = max(a, t), min(b, end)
        if b <= a:
            continue
        if a > t:
            spans.append([round(t, 1), round(a, 1), "awake"])
        spans.append([round(a, 1), round(b, 1), state])
        t = b
    if t < end:
        spans.append([round(t, 1), round(end, 1), "awake"])
    return spans


def _front_door(records: list[_Record], sensors: dict[str, Sensor]) -> str | None:
    doors = Counter[str]()
    for r in records:
        if r.activity.lower().startswith("going out"):
            for s in set(r.ids):
                if s in sensors and sensors[s].thing.strip().lower() == "door":
                    doors[s] += 1
    return doors.most_common(1)[0][0] if doors else None


def _motion(uses: list[Use], room_of: dict[str, str], pir: dict[str, str], door_id: str | None,
            obs: list[Observation], moments: list[tuple[float, str, str]],
            zone: zoneinfo.ZoneInfo) -> None:
    last_in_record: dict[tuple[int, str], float] = {}
    first_in_record: dict[tuple[int, str], float] = {}
    for u in uses:
        room = room_of[u.sensor_id]
        device = pir[room]
        instants = [u.on] + ([u.off] if u.off is not None else [])
        key = (u.record, room)
        previous = last_in_record.get(key)
        if previous is not None and 0 < u.on - previous <= FILL_GAP_S:
            t = previous + FILL_EVERY_S
            while t < u.on:
                obs.append(Observation(round(t, 2), device, "pir"))
                t += FILL_EVERY_S
        for t in instants:
            obs.append(Observation(round(t, 2), device, "pir"))
        last_in_record[key] = max(instants)
        if key not in first_in_record and u.sensor_id != door_id:
            first_in_record[key] = u.on
            hour = dt.datetime.fromtimestamp(u.on, zone).hour
            if room == "bathroom":
                moments.append((u.on + 30, "bathroom", room))
            elif 8 <= hour < 21:
                moments.append((u.on + 30, f"daytime_{room}", room))


def _door(uses: list[Use], door_id: str | None, device: str | None,
          obs: list[Observation]) -> list[tuple[float, float]]:
    """Door open/close observations; returns (open, close) pairs."""
    pairs: list[tuple[float, float]] = []
    if door_id is None or device is None:
        return pairs
    for u in uses:
        if u.sensor_id != door_id:
            continue
        close = u.off if u.off is not None and u.off > u.on else u.on + DOOR_OPEN_S
        if pairs and u.on <= pairs[-1][1]:
            continue  # the same opening annotated in two activities
        pairs.append((u.on, close))
        obs.append(Observation(round(u.on, 2), device, "door", True))
        obs.append(Observation(round(close, 2), device, "door", False))
    return pairs


def _bed(uses: list[Use], bed_id: str, bedroom_pir: str, obs: list[Observation],
         zone: zoneinfo.ZoneInfo) -> list[tuple[float, float]]:
    """In bed during quiet night stretches; returns (in, out) pairs."""
    instants = sorted({t for u in uses for t in ((u.on,) if u.off is None else (u.on, u.off))})
    sleep: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(instants):
        if b - a < BED_MIN_GAP_S:
            continue
        begin = dt.datetime.fromtimestamp(a, zone)
        finish = dt.datetime.fromtimestamp(b, zone)
        starts_at_night = begin.hour >= 19 or begin.hour < 6
        ends_by_noon = finish.hour < 13 and b - a < 18 * 3600
        if starts_at_night and ends_by_noon:
            sleep.append((a + 120.0, b - 60.0))
    for t_in, t_out in sleep:
        obs.append(Observation(round(t_in - 30, 2), bedroom_pir, "pir"))
        obs.append(Observation(round(t_in, 2), bed_id, "bed", True))
        obs.append(Observation(round(t_out, 2), bed_id, "bed", False))
        obs.append(Observation(round(t_out + 10, 2), bedroom_pir, "pir"))
    return sleep


def _bed_moments(sleep: list[tuple[float, float]],
                 zone: zoneinfo.ZoneInfo) -> list[tuple[float, str, str]]:
    out: list[tuple[float, str, str]] = []
    for i, (_t_in, t_out) in enumerate(sleep):
        hour = dt.datetime.fromtimestamp(t_out, zone).hour
        returns = i + 1 < len(sleep) and sleep[i + 1][0] - t_out < 3 * 3600
        if returns and (hour >= 21 or hour < 6):
            out.append((t_out + 30, "night_bed_exit", "bedroom"))
        elif not returns and 4 <= hour < 13:
            out.append((t_out + 60, "morning_rise", "bedroom"))
    return out


def _door_moments(doors: list[tuple[float, float]], uses: list[Use],
                  room: str) -> list[tuple[float, str, str]]:
    out: list[tuple[float, str, str]] = []
    ons = [u.on for u in uses]
    for opened, closed in doors:
        i = bisect.bisect_right(ons, closed)
        inside_after = i < len(ons) and ons[i] - closed <= 600
        if not inside_after:
            continue  # left, or nothing seen inside: not known to be home
        out.append((closed + 10, "after_door_close", room))
        j = bisect.bisect_left(ons, opened) - 1
        if j < 0 or opened - ons[j] >= 1800:
            out.append((closed + 60, "after_return", room))
    return out
