"""The PlaceLab importer on a tiny hand-written home in the dataset's own file format (not the
real data), on malformed files, and -- when ../shared/datasets/placelab is there -- on the real
recordings (Munguia Tapia 2003)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from trygg.hub.replay import recording, runner
from trygg.tools.bench import placelab as pl
from trygg.tools.bench.care import datasets_dir

NY = zoneinfo.ZoneInfo(pl.ZONE)
# The real sensors.csv has trailing blanks after some objects.
SENSORS = "100,Bathroom,Toilet Flush \n" + """68,Bathroom,Sink faucet - hot
140,Foyer,Door
137,Kitchen,Freezer
53,Kitchen,Cabinet
64,Bedroom,Lamp
109,Porch,Light switch
"""
# Five lines per annotated activity: label,date,start,end / sensor ids / objects / on / off.
ACTIVITIES = """Preparing dinner,4/1/2003,18:0:0,18:20:0
137,53,137
Freezer,Cabinet,Freezer
18:1:0,18:5:0,18:12:0
18:1:10,18:5:5,18:12:3
Toileting,4/1/2003,22:30:0,22:40:0
100,68
Toilet Flush,Sink faucet - hot
22:35:0,22:36:0
22:35:5,22:36:10
Toileting,4/2/2003,3:10:0,3:15:0
100
Toilet Flush
3:11:0
3:11:4
Preparing breakfast,4/2/2003,7:30:0,7:45:0
137,64
Freezer,Lamp
7:31:0,7:40:0
7:31:20,16:0:0
Going out for shopping,4/2/2003,10:0:0,10:5:0
109,140
Light switch,Door
10:1:0,10:2:0
10:1:2,10:2:8
Putting away groceries,4/2/2003,11:30:0,11:40:0
140,137
Door,Freezer
11:30:5,11:32:0
11:30:12,11:32:30
"""


def at(day: int, hms: str) -> float:
    h, m, s = map(int, hms.split(":"))
    return dt.datetime(2003, 4, day, h, m, s, tzinfo=NY).timestamp()


@pytest.fixture
def subject(tmp_path: Path) -> Path:
    d = tmp_path / "subject9"
    d.mkdir()
    (d / "sensors.csv").write_text(SENSORS)
    (d / "activities_data.csv").write_text(ACTIVITIES)
    (d / "Activities.csv").write_text("Heading,Category,Subcategory,Code\n")
    return d


def test_rooms_get_motion_units_the_front_door_a_contact_and_the_bed_a_mat(
        subject: Path) -> None:
    rec = pl.load_subject(subject)
    rooms = {d.room: d for d in rec.devices if d.role == "motion"}
    assert sorted(rooms) == ["bathroom", "bedroom", "foyer", "kitchen"]  # porch -> the door's
    assert rooms["foyer"].firmware == {"door_contact": True}
    assert [d.room for d in rec.devices if d.role == "bed"] == ["bedroom"]
    assert rec.about["front_door_sensor"] == "140"  # used when going out
    assert "derived" in rec.derived or "from object use" in rec.derived
    assert rec.start == at(1, "0:0:0")
    assert rec.end == at(3, "0:0:0")
    recording.loads("\n".join(recording.records(rec)))  # a valid recording


def test_object_use_becomes_room_motion_with_a_trigger_a_minute_between_uses(
        subject: Path) -> None:
    rec = pl.load_subject(subject)
    kitchen = next(d.device_id for d in rec.devices if d.room == "kitchen")
    times = sorted(o.t for o in rec.observations if o.device_id == kitchen
                   and at(1, "18:0:0") <= o.t <= at(1, "18:20:0"))
    t0 = at(1, "18:1:0")
    # uses at 18:01 (off 18:01:10), 18:05, 18:12: filled every 60 s between uses < 10 min apart
    assert times[:4] == [t0, t0 + 10, t0 + 70, t0 + 130]
    assert at(1, "18:5:0") in times
    assert at(1, "18:12:0") in times
    # 18:05:05 to 18:12:00 is under 10 min: filled every minute, nothing more
    assert [t - at(1, "18:5:5") for t in times if at(1, "18:5:5") < t < at(1, "18:12:0")] == [
        60, 120, 180, 240, 300, 360]
    # A lamp left on for eight hours is not a person in the bedroom all day.
    bedroom = next(d.device_id for d in rec.devices if d.room == "bedroom" and
                   d.role == "motion")
    assert not [o for o in rec.observations if o.device_id == bedroom
                and abs(o.t - at(2, "16:0:0")) < 1]


def test_front_door_and_bed_are_derived(subject: Path) -> None:
    rec = pl.load_subject(subject)
    foyer = next(d.device_id for d in rec.devices if d.room == "foyer")
    doors = [(o.t, o.value) for o in rec.observations if o.sensor == "door"]
    assert doors == [(at(2, "10:2:0"), True), (at(2, "10:2:8"), False),
                     (at(2, "11:30:5"), True), (at(2, "11:30:12"), False)]
    assert all(o.device_id == foyer for o in rec.observations if o.sensor == "door")
    bed = [(o.t, o.value) for o in rec.observations if o.sensor == "bed"]
    # Quiet night stretches: 22:36:10 -> 03:11:00 and 03:11:04 -> 07:31:00, split by the
    # night toilet visit; in bed 2 min after the last use, out 1 min before the next.
    assert bed == [(at(1, "22:38:10"), True), (at(2, "3:10:0"), False),
                   (at(2, "3:13:4"), True), (at(2, "7:30:0"), False)]
    moments = {(round(t), c) for t, c, _ in rec.about["fall_moments"]}
    assert (at(2, "3:10:30"), "night_bed_exit") in moments
    assert (at(2, "7:31:0"), "morning_rise") in moments
    assert (at(2, "11:30:22"), "after_door_close") in moments
    assert (at(2, "11:31:12"), "after_return") in moments
    assert not [c for t, c in moments if c == "after_door_close" and t < at(2, "11:0:0")]


def test_the_home_replays_and_a_night_toilet_visit_is_not_an_alarm(subject: Path) -> None:
    result = runner.replay(pl.load_subject(subject))
    night = [a for a in result.alarms if at(2, "3:0:0") < a.raised_at < at(2, "4:0:0")]
    assert night == []
    assert result.frames > 0


def test_impossible_dates_follow_the_previous_day_and_later_days_move_on() -> None:
    days = pl._days([(2003, 4, 30), (2003, 4, 31), (2003, 5, 1), (2003, 5, 2)])
    assert [days[k].isoformat() for k in sorted(days)] == [
        "2003-04-30", "2003-05-01", "2003-05-02", "2003-05-03"]


@pytest.mark.parametrize(("name", "text", "line", "why"), [
    ("sensors.csv", "100,Bathroom\n", 1, "SENSOR_ID,LOCATION,OBJECT"),
    ("activities_data.csv", ACTIVITIES.replace("4/1/2003,18:0:0", "4/1/2003", 1), 1,
     "ACTIVITY,DATE,START,END"),
    ("activities_data.csv", ACTIVITIES.replace("4/1/2003", "13/1/2003", 1), 1, "m/d/yyyy"),
    ("activities_data.csv", ACTIVITIES.replace("18:1:0,18:5:0,", "18:1:0,", 1), 2,
     "differ in number"),
    ("activities_data.csv", ACTIVITIES.replace("22:35:0", "25:35:0", 1), 9, "h:m:s"),
    ("activities_data.csv", ACTIVITIES + "Toileting,4/3/2003,1:0:0,1:1:0\n", 31, "5 lines"),
])
def test_malformed_files_are_refused_naming_file_and_line(
        subject: Path, name: str, text: str, line: int, why: str) -> None:
    (subject / name).write_text(text)
    with pytest.raises(pl.PlacelabError) as err:
        pl.load_subject(subject)
    assert str(err.value).startswith(f"{subject / name}:{line}: "), str(err.value)
    assert why in str(err.value)


def test_absent_datasets_are_reported_not_an_error(tmp_path: Path) -> None:
    found, note = pl.subjects(tmp_path / "nowhere")
    assert found == []
    assert note.startswith("absent")


REAL = datasets_dir(None) / "placelab"


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the PlaceLab recordings are not at {REAL} "
                    "(../shared/datasets, never in the repository)")
def test_the_real_placelab_homes_import_with_nightly_bed_and_the_front_door() -> None:
    found, _note = pl.subjects(REAL)
    assert [p.name for p in found] == ["subject1", "subject2"]
    for path in found:
        rec = pl.load_subject(path)
        days = (rec.end - rec.start) / 86400
        assert 15 <= days <= 18, (path, days)
        nights = {dt.datetime.fromtimestamp(o.t, NY).date() for o in rec.observations
                  if o.sensor == "bed" and o.value}
        assert len(nights) >= days * 0.7  # most nights show a quiet stretch in bed
        assert any(o.sensor == "door" for o in rec.observations)
        categories = {m[1] for m in rec.about["fall_moments"]}
        assert {"night_bed_exit", "bathroom", "morning_rise", "after_door_close"} <= categories
