"""Stillness learned per room and hour from the resident's own history; counted across the
day/night boundary; "did not go to bed"; a new episode alarms even while an old one is open."""

from __future__ import annotations

import copy

from support.rules_home import BATH, BED, BEDROOM, KITCHEN, LIVING, RulesHome
from trygg.hub.rules import Resident, RulesEngine, State, Thresholds, replay
from trygg.hub.rules.routine import duration_bound

FULL = 28  # a full learning window (Thresholds.learn_days): no stretch for a short history


def every(home: RulesHome, device: str, start: float, end: float, minutes: float) -> None:
    t = start
    while t <= end:
        home.store(device, "motion", t)
        t += minutes * 60


def usual_day(home: RulesHome, day: int) -> None:
    """Up at 07:00; the kitchen till eleven (a PIR trigger every 8 min at the most); the
    living room till ten in the evening (every 50 min at the most); to bed at 22:30."""
    at = home.at
    home.store(BED, "bed_out", at("07:00", day))
    home.store(BEDROOM, "motion", at("07:00", day) + 10)
    every(home, KITCHEN, at("07:10", day), at("11:00", day), 8)
    every(home, LIVING, at("11:05", day), at("21:55", day), 50)
    home.store(BEDROOM, "motion", at("22:25", day))
    home.store(BED, "bed_in", at("22:30", day))


def test_after_four_weeks_the_kitchen_limit_follows_her_kitchen_at_that_hour() -> None:
    home = RulesHome(tick_s=60)
    for day in range(FULL):
        usual_day(home, day)
    home.store(BED, "bed_out", home.at("07:00", FULL))
    home.store(BEDROOM, "motion", home.at("07:00", FULL) + 10)
    every(home, KITCHEN, home.at("07:10", FULL), home.at("09:00", FULL), 8)  # then nothing
    home.run_until(home.at("10:00", FULL))
    alarms = home.raised("possible_fall")
    assert len(alarms) == 1
    # The longest kitchen stillness around that hour (07:00-11:59): 11 min, from 10:54 to the
    # living room at 11:05; x learn_margin + learn_margin_min.
    limit = 11 * 60 * 1.5 + 5 * 60
    last = home.at("08:54", FULL)  # the last trigger of the 8-minute grid from 07:10
    assert last + limit <= alarms[0].at < last + limit + 60
    assert alarms[0].description == "No movement for 22 min in kitchen; usually 11 min at most"


def test_the_living_room_in_the_afternoon_is_allowed_her_long_still_spells() -> None:
    home = RulesHome(tick_s=60)
    for day in range(FULL):
        usual_day(home, day)
    home.store(BED, "bed_out", home.at("07:00", FULL))
    every(home, KITCHEN, home.at("07:10", FULL), home.at("11:00", FULL), 8)
    every(home, LIVING, home.at("11:05", FULL), home.at("15:15", FULL), 50)  # 15:15: the last
    home.run_until(home.at("18:00", FULL))
    alarms = home.raised("possible_fall")
    assert len(alarms) == 1
    last = home.at("14:25", FULL) + 50 * 60  # the grid from 11:05 every 50 min
    assert last + 80 * 60 <= alarms[0].at < last + 80 * 60 + 60  # 50 x 1.5 + 5


def test_stillness_from_the_evening_is_counted_across_the_night_boundary() -> None:
    # No history: the default limit, counted from 18:37 -- not restarted at any hour.
    home = RulesHome()
    home.store(BED, "bed_out", home.at("07:00"))
    every(home, KITCHEN, home.at("07:05"), home.at("18:37"), 20)
    home.store(KITCHEN, "motion", home.at("18:37"))
    home.run_until(home.at("23:00"))
    alarms = home.raised("possible_fall")
    assert len(alarms) == 1
    assert home.at("20:37") <= alarms[0].at < home.at("20:37") + 30


def test_not_in_bed_by_her_usual_bedtime_and_still_is_a_check() -> None:
    home = RulesHome()
    for day in range(6):
        usual_day(home, day)
    home.store(BED, "bed_out", home.at("07:00", 6))
    every(home, KITCHEN, home.at("07:10", 6), home.at("11:00", 6), 8)
    every(home, LIVING, home.at("11:05", 6), home.at("23:40", 6), 10)  # up late, then still
    home.run_until(home.at("00:20", 7))
    checks = home.raised("inactivity")
    assert len(checks) == 1
    # usually in bed by 22:30 (+ rise_margin_min 60), still for not_in_bed_still_min (30)
    last = max(e.received_at for e in home.stored if e.device_id == LIVING)
    assert last + 30 * 60 <= checks[0].at < last + 30 * 60 + 30
    assert checks[0].description.startswith("Not in bed at 00:05")
    assert "no movement for 30 min in living room" in checks[0].description
    # The living room that late: 30 min at most (21:55 to bed), so its limit is longer than
    # the 30 min "not in bed" waits for.
    assert home.raised("possible_fall") == []


def test_a_new_stillness_is_alarmed_while_an_earlier_alarm_is_still_open() -> None:
    home = RulesHome()
    home.store(BATH, "motion", home.at("10:00"))
    home.run_until(home.at("10:45"))  # bathroom default (40 min)
    first = home.raised("possible_fall")
    assert len(first) == 1
    home.store(BATH, "motion", home.at("10:50"))  # moving -- on the floor? -- same room
    assert home.open_kinds() == ["possible_fall"]  # not resolved by motion in that room
    home.run_until(home.at("11:40"))
    alarms = home.raised("possible_fall")
    assert len(alarms) == 2
    assert alarms[1].alarm_id != alarms[0].alarm_id
    assert home.open_kinds() == ["possible_fall", "possible_fall"]
    home.store(KITCHEN, "motion", home.at("11:45"))  # she walked out: both are over
    assert home.open_kinds() == []


def test_the_learned_routine_replays_to_the_same_state() -> None:
    home = RulesHome()
    for day in range(7):
        usual_day(home, day)
    home.run_until(home.at("12:00", 7))
    state = State()
    engine = RulesEngine(home.engine.config)
    list(replay(engine, state, home.stored, until=home.now))
    live = home.state.resident("r1").routine
    again = state.resident("r1").routine
    assert again.still == live.still
    assert again.rises == live.rises
    assert again.bedtimes == live.bedtimes
    assert len(live.still) >= 7
    assert copy.deepcopy(again.still) == live.still


def test_a_short_history_is_stretched_towards_what_four_weeks_would_show() -> None:
    # The longest of a few days underestimates the longest of four weeks: a limit learned
    # from 3 days is longer than one learned from 28 with the same longest value, and both
    # are longer than the longest seen.
    resident = Resident(id="r1", arc_account="1234", thresholds=Thresholds())
    hour = 3600.0
    three = duration_bound(resident, dict.fromkeys(range(97, 100), hour), 100, 0.0, 0.0, 1e9)
    month = duration_bound(resident, dict.fromkeys(range(72, 100), hour), 100, 0.0, 0.0, 1e9)
    assert month.limit == hour * 1.5 + 5 * 60
    assert three.limit > month.limit * 1.5
    assert (three.days, month.days) == (3, 28)
