"""Whole simulated days in a home, through the pure rules engine with simulated time.

A day is a list of sensor events at local wall-clock times; the test feeds them, a tick every
minute and a heartbeat from every device every five minutes, and looks at the alarms. Normal
days must raise nothing at all.
"""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import pytest

from trygg.hub.config import NORDIC_ZONES
from trygg.hub.rules import (
    DeviceInfo,
    Event,
    RaiseAlarm,
    Resident,
    ResolveAlarm,
    RulesConfig,
    RulesEngine,
    State,
    Thresholds,
    Tick,
    replay,
)

BED, BEDROOM, BATH, KITCHEN, HALL, SMOKE, PILLS = (
    "b00000000001", "a00000000001", "a00000000002", "a00000000003", "a00000000004",
    "5a0000000001", "d00000000001")
DEVICES = {
    BED: ("bed", "bedroom"), BEDROOM: ("motion", "bedroom"), BATH: ("motion", "bathroom"),
    KITCHEN: ("motion", "kitchen"), HALL: ("motion", "hall"), SMOKE: ("smoke", "kitchen"),
    PILLS: ("dispenser", "kitchen"),
}


@dataclass
class Home:
    """One resident's home on a given local date, in simulated time."""

    zone: str = "Europe/Oslo"
    date: dt.date = dt.date(2025, 3, 12)
    thresholds: Thresholds = field(default_factory=Thresholds)
    events: list[tuple[float, str, str, str | None, dict[str, Any]]] = field(default_factory=list)
    silent_after: dict[str, float] = field(default_factory=dict)
    battery: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def at(self, hhmm: str, day: int = 0, fold: int = 0) -> float:
        h, m = map(int, hhmm.split(":"))
        d = self.date + dt.timedelta(days=day)
        return dt.datetime(d.year, d.month, d.day, h, m, tzinfo=zoneinfo.ZoneInfo(self.zone),
                           fold=fold).timestamp()

    def add(self, t: float, device: str, name: str, value: int | None = None) -> None:
        body: dict[str, Any] = {"type": "event", "event": name, "uptime": 1}
        if value is not None:
            body["value"] = value
        self.events.append((t, device, "event", name, body))

    def motion(self, device: str, start: float, end: float, every_min: float = 3) -> None:
        t = start
        while t <= end:
            self.add(t, device, "motion")
            t += every_min * 60

    def normal_morning(self, day: int = 0, rise: str = "07:05") -> None:
        t = self.at(rise, day)
        self.add(t, BED, "bed_out")
        self.motion(BEDROOM, t + 30, t + 60)
        self.motion(BATH, t + 120, t + 900)
        self.motion(KITCHEN, t + 1000, t + 3600)

    def run(self, start: float, end: float) -> list[RaiseAlarm | ResolveAlarm]:
        _, _, actions, _ = self.run_full(start, end)
        return actions

    def stored_events(self, start: float, end: float) -> list[Event]:
        items = list(self.events)
        t = start
        while t <= end:  # heartbeats, every device, every 5 minutes, unless it died
            for device in DEVICES:
                if t < self.silent_after.get(device, float("inf")):
                    mv = 3900
                    for since, v in self.battery.get(device, []):
                        if t >= since:
                            mv = v
                    body = {"type": "heartbeat", "uptime": 1, "battery_mv": mv, "rssi": -60,
                            "free_heap": 50000, "outbox": 0, "rejected": 0}
                    if device == PILLS:
                        body["stock"] = 20
                    items.append((t + 7, device, "heartbeat", None, body))
            t += 300
        items.sort(key=lambda e: e[0])
        return [Event(i + 1, t, dev, i, "r1", typ, name, body.get("value"), None, body)
                for i, (t, dev, typ, name, body) in enumerate(items) if start <= t <= end]

    def config(self, paired_at: float = 0.0) -> RulesConfig:
        resident = Resident(id="r1", arc_account="1234", timezone=self.zone,
                            thresholds=self.thresholds)
        devices = {d: DeviceInfo(d, role, room, "r1", i + 1, 300.0, paired_at)
                   for i, (d, (role, room)) in enumerate(DEVICES.items())}
        return RulesConfig({"r1": resident}, devices)

    def run_full(self, start: float, end: float, tick_s: float = 60.0
                 ) -> tuple[RulesEngine, State, list[RaiseAlarm | ResolveAlarm], list[Event]]:
        engine = RulesEngine(self.config(start))
        state = State()
        events = self.stored_events(start, end)
        actions: list[RaiseAlarm | ResolveAlarm] = []
        i = 0
        t = start
        while t <= end:
            while i < len(events) and events[i].received_at <= t:
                actions += engine.step(state, events[i], events[i].received_at)[1]
                i += 1
            actions += engine.step(state, Tick(), t)[1]
            t += tick_s
        return engine, state, actions, events


def raised(actions: list[RaiseAlarm | ResolveAlarm]) -> list[RaiseAlarm]:
    return [a for a in actions if isinstance(a, RaiseAlarm)]


def normal_day(home: Home, day: int = 0) -> None:
    """Up at 07:05, breakfast and medicine, out shopping 10:00-13:30 and visiting 16:00-17:30,
    a nap, in bed at 22:30, a toilet visit at 03:00, up at 07:10 the next morning."""
    at = home.at
    home.normal_morning(day)
    home.add(at("08:00", day), PILLS, "dose_due", 1)
    home.add(at("08:10", day), PILLS, "dose_taken", 1)
    home.motion(KITCHEN, at("08:10", day), at("09:55", day), 10)
    for out, back in (("10:00", "13:30"), ("16:00", "17:30")):
        home.add(at(out, day) - 60, HALL, "motion")
        home.add(at(out, day), HALL, "door_open")
        home.add(at(out, day) + 20, HALL, "door_close")
        home.add(at(back, day), HALL, "door_open")
        home.add(at(back, day) + 20, HALL, "door_close")
        home.add(at(back, day) + 60, HALL, "motion")
    home.motion(KITCHEN, at("13:32", day), at("14:00", day), 5)
    home.add(at("14:05", day), BED, "bed_in")  # a nap
    home.add(at("15:10", day), BED, "bed_out")
    home.motion(BEDROOM, at("15:11", day), at("15:12", day))
    home.motion(KITCHEN, at("15:15", day), at("15:55", day), 10)
    home.motion(KITCHEN, at("17:32", day), at("22:00", day), 20)
    home.motion(BATH, at("22:05", day), at("22:20", day))
    home.motion(BEDROOM, at("22:22", day), at("22:28", day))
    home.add(at("22:30", day), BED, "bed_in")
    home.add(at("03:00", day + 1), BED, "bed_out")
    home.motion(BATH, at("03:01", day + 1), at("03:07", day + 1))
    home.motion(BEDROOM, at("03:09", day + 1), at("03:10", day + 1))
    home.add(at("03:10", day + 1), BED, "bed_in")
    home.normal_morning(day + 1, "07:10")


@pytest.mark.parametrize("zone", NORDIC_ZONES)
def test_normal_day_with_outings_raises_no_alarm(zone: str) -> None:
    home = Home(zone=zone)
    normal_day(home)
    # Until 10:00 the next day: the simulated resident stops moving after breakfast (08:10),
    # which a hub with no history yet calls a possible fall two hours later.
    assert raised(home.run(home.at("06:00"), home.at("10:00", 1))) == []


def test_night_fall_alarm_when_still_20_min_after_a_night_bed_exit() -> None:
    home = Home()
    home.add(home.at("22:30"), BED, "bed_in")
    home.add(home.at("02:00", 1), BED, "bed_out")
    home.add(home.at("02:01", 1), BEDROOM, "motion")
    home.add(home.at("02:03", 1), HALL, "motion")  # then nothing: on the floor in the hall
    actions = home.run(home.at("22:00"), home.at("04:00", 1))
    alarms = raised(actions)
    assert [a.kind for a in alarms] == ["possible_fall"]
    fall = alarms[0]
    # No history yet: the night default, 20 min without motion since 02:03.
    assert home.at("02:23", 1) <= fall.at < home.at("02:24", 1)
    assert fall.priority == 2
    assert len(fall.cause_event_ids) == 2  # the bed exit and the last motion


def test_night_toilet_visit_with_return_to_bed_raises_nothing() -> None:
    home = Home()
    home.add(home.at("22:30"), BED, "bed_in")
    home.add(home.at("02:00", 1), BED, "bed_out")
    home.motion(BATH, home.at("02:02", 1), home.at("02:12", 1))
    home.add(home.at("02:15", 1), BED, "bed_in")
    assert raised(home.run(home.at("22:00"), home.at("06:00", 1))) == []


def test_bathroom_fall_alarm_after_40_min_without_motion_anywhere() -> None:
    home = Home()
    home.normal_morning()
    home.motion(KITCHEN, home.at("08:10"), home.at("10:55"), 20)
    home.motion(BATH, home.at("11:00"), home.at("11:06"))  # then nothing
    alarms = raised(home.run(home.at("06:00"), home.at("13:00")))
    assert [a.kind for a in alarms] == ["possible_fall"]
    assert home.at("11:46") <= alarms[0].at < home.at("11:47")


def test_bathroom_fall_alarm_resolved_when_resident_walks_to_another_room() -> None:
    home = Home()
    home.normal_morning()
    home.motion(KITCHEN, home.at("08:10"), home.at("10:55"), 20)
    home.motion(BATH, home.at("11:00"), home.at("11:06"))
    home.add(home.at("12:00"), KITCHEN, "motion")
    actions = home.run(home.at("06:00"), home.at("12:30"))
    assert [type(a).__name__ for a in actions] == ["RaiseAlarm", "ResolveAlarm"]


def test_still_in_the_kitchen_is_a_possible_fall_after_2_hours_with_no_history() -> None:
    home = Home()
    home.normal_morning(rise="08:00")
    home.motion(KITCHEN, home.at("09:00"), home.at("09:30"), 10)  # then still, out of view
    alarms = raised(home.run(home.at("06:00"), home.at("18:00")))
    assert [a.kind for a in alarms] == ["possible_fall"]
    assert home.at("11:30") <= alarms[0].at < home.at("11:31")  # still_default_min 120
    assert alarms[0].priority == 2


def test_not_up_by_latest_rise_time() -> None:
    home = Home()
    home.add(home.at("22:30"), BED, "bed_in")  # and stays in bed
    alarms = raised(home.run(home.at("22:00"), home.at("11:30", 1)))
    assert [a.kind for a in alarms] == ["not_up"]
    assert home.at("11:00", 1) <= alarms[0].at < home.at("11:01", 1)


def test_stillness_is_suppressed_while_away_and_a_long_absence_is_checked() -> None:
    home = Home()
    home.normal_morning()
    home.add(home.at("09:00"), HALL, "motion")
    home.add(home.at("09:01"), HALL, "door_open")
    home.add(home.at("09:01") + 15, HALL, "door_close")
    home.add(home.at("19:00"), HALL, "door_open")  # a long day out
    home.add(home.at("19:00") + 15, HALL, "door_close")
    home.add(home.at("19:01"), HALL, "motion")  # home again: the clock starts at 19:01
    actions = home.run(home.at("06:00"), home.at("21:00"))
    # No outings learned yet: a check after outing_default_h (4 h), ended by the door.
    assert [(type(a).__name__, a.kind) for a in actions] == [
        ("RaiseAlarm", "inactivity"), ("ResolveAlarm", "inactivity")]
    assert home.at("13:01") + 15 <= actions[0].at < home.at("13:02") + 15
    assert actions[1].at == home.at("19:00")
    # ... but silence after the door without the door is a fall, not an outing
    home2 = Home()
    home2.normal_morning()
    home2.add(home2.at("09:00"), HALL, "motion")
    assert [a.kind for a in raised(home2.run(home2.at("06:00"), home2.at("14:00")))] == [
        "possible_fall"]


def test_smoke_is_a_fire_alarm_at_once_and_clears_with_the_device() -> None:
    home = Home()
    normal_day(home)
    home.add(home.at("15:00"), SMOKE, "smoke_test")  # the test button is not a fire
    home.add(home.at("18:00") + 5, SMOKE, "smoke_alarm")
    home.add(home.at("18:00") + 6, SMOKE, "smoke_alarm")  # repeated: still one alarm
    home.add(home.at("18:07"), SMOKE, "smoke_clear")
    actions = home.run(home.at("06:00"), home.at("23:00"))
    assert [(type(a).__name__, a.kind) for a in actions] == [("RaiseAlarm", "fire"),
                                                             ("ResolveAlarm", "fire")]
    fire = actions[0]
    assert isinstance(fire, RaiseAlarm)
    assert fire.priority == 1
    assert fire.device_id == SMOKE
    assert fire.at == home.at("18:00") + 5  # at once, not at the next tick


def test_missed_dose_when_not_taken_within_the_window_and_when_reported() -> None:
    home = Home()
    home.normal_morning()
    home.add(home.at("08:00"), PILLS, "dose_due", 1)  # never taken
    home.add(home.at("12:00"), PILLS, "dose_due", 2)
    home.add(home.at("13:00"), PILLS, "dose_missed", 2)
    home.motion(KITCHEN, home.at("08:00"), home.at("20:00"), 30)
    actions = home.run(home.at("06:00"), home.at("20:00"))
    kinds = [(type(a).__name__, a.kind) for a in actions]
    assert kinds == [("RaiseAlarm", "missed_dose")]  # dose 2 while dose 1's is open: one
    assert home.at("09:15") <= actions[0].at < home.at("09:16")


def test_dispenser_jam_is_a_technical_notice() -> None:
    home = Home()
    home.normal_morning()
    home.add(home.at("08:00"), PILLS, "dispenser_jam")
    home.add(home.at("09:00"), PILLS, "dose_taken", 1)
    actions = home.run(home.at("06:00"), home.at("10:00"))
    assert [(type(a).__name__, a.kind, getattr(a, "priority", 5)) for a in actions] == [
        ("RaiseAlarm", "dispenser_problem", 5), ("ResolveAlarm", "dispenser_problem", 5)]


def test_device_dying_raises_low_battery_once_then_silence() -> None:
    home = Home()
    normal_day(home)
    home.battery[KITCHEN] = [(home.at("09:00"), 3390), (home.at("10:00"), 3300)]
    home.silent_after[KITCHEN] = home.at("12:00")  # battery dead
    # the kitchen PIR's motion ends with it
    home.events = [e for e in home.events if not (e[1] == KITCHEN and e[0] >= home.at("12:00"))]
    home.motion(HALL, home.at("17:32"), home.at("22:00"), 20)
    alarms = raised(home.run(home.at("06:00"), home.at("23:00")))
    assert [(a.kind, a.device_id) for a in alarms] == [("low_battery", KITCHEN),
                                                       ("device_silent", KITCHEN)]
    last_frame = home.at("11:55") + 7
    assert last_frame + 900 <= alarms[1].at < last_frame + 960  # three 5-minute heartbeats


@pytest.mark.parametrize(("zone", "date"), [
    ("Europe/Stockholm", dt.date(2025, 3, 29)),  # the night clocks go forward
    ("Europe/Helsinki", dt.date(2025, 10, 25)),  # the night clocks go back
    ("Europe/Copenhagen", dt.date(2025, 10, 25)),
    ("Europe/Oslo", dt.date(2025, 3, 29)),
])
def test_dst_change_night(zone: str, date: dt.date) -> None:
    home = Home(zone=zone, date=date)
    normal_day(home)
    assert raised(home.run(home.at("06:00"), home.at("10:00", 1))) == []
    # The same night with a fall at 04:00 local: 20 real minutes after the last motion
    # (04:01), whatever the clocks did.
    home = Home(zone=zone, date=date)
    home.add(home.at("22:30"), BED, "bed_in")
    home.add(home.at("04:00", 1), BED, "bed_out")
    home.add(home.at("04:01", 1), HALL, "motion")
    alarms = raised(home.run(home.at("22:00"), home.at("06:00", 1)))
    assert [a.kind for a in alarms] == ["possible_fall"]
    assert home.at("04:01", 1) + 1200 <= alarms[0].at < home.at("04:01", 1) + 1260
    # and not up by 11:00 local on that day (the wall clock, not 24 h after anything)
    home = Home(zone=zone, date=date)
    home.add(home.at("22:30"), BED, "bed_in")
    alarms = raised(home.run(home.at("22:00"), home.at("12:00", 1)))
    assert [a.kind for a in alarms] == ["not_up"]
    assert home.at("11:00", 1) <= alarms[0].at < home.at("11:01", 1)


def test_replay_rebuilds_the_same_state_and_alarm_ids_as_live_ticking() -> None:
    home = Home()
    normal_day(home)
    home.motion(BATH, home.at("11:00", 1), home.at("11:06", 1))  # a bathroom fall next day
    home.add(home.at("18:00"), SMOKE, "smoke_alarm")
    start, end = home.at("06:00"), home.at("13:00", 1)
    _, live_state, live, events = home.run_full(start, end)
    engine = RulesEngine(home.config(start))
    state = State()
    replayed = list(replay(engine, state, events, until=end))
    assert [a.alarm_id for a in raised(replayed)] == [a.alarm_id for a in raised(live)]
    assert [a.alarm_id for a in replayed if isinstance(a, ResolveAlarm)] == [
        a.alarm_id for a in live if isinstance(a, ResolveAlarm)]
    assert state.open_alarms.keys() == live_state.open_alarms.keys()
    assert state.raised == live_state.raised


def test_engine_is_deterministic() -> None:
    home = Home()
    normal_day(home)
    home.add(home.at("18:00"), SMOKE, "smoke_alarm")
    events = home.stored_events(home.at("06:00"), home.at("12:00", 1))
    engine = RulesEngine(home.config(home.at("06:00")))
    s1, s2 = State(), State()
    a1 = list(replay(engine, s1, events))
    a2 = list(replay(engine, s2, copy.deepcopy(events)))
    assert a1 == a2
    assert s1 == s2
