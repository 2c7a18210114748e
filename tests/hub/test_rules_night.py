"""The night: a bed exit is a possible fall only when she is still home and something confirms
she got up; a mat that lost the sleeper is not blamed on a fall, and not silenced for ever."""

from __future__ import annotations

from support.rules_home import BATH, BED, BEDROOM, HALL, RulesHome


def night(home: RulesHome) -> None:
    home.store(BEDROOM, "motion", home.at("22:25"))
    home.store(BED, "bed_in", home.at("22:30"))


def test_up_at_night_and_still_in_the_bathroom_is_a_possible_fall() -> None:
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("03:00", 1))
    home.store(HALL, "motion", home.at("03:00", 1) + 10)
    home.store(BATH, "motion", home.at("03:01", 1))  # then nothing
    home.run_until(home.at("05:00", 1))
    alarms = home.raised("possible_fall")
    assert len(alarms) == 1
    # No history yet: the night default, 20 min after the last motion.
    assert home.at("03:21", 1) <= alarms[0].at < home.at("03:21", 1) + 30
    assert alarms[0].description.startswith("No movement for 20 min in bathroom")
    assert "up since 03:00" in alarms[0].description
    assert len(alarms[0].cause_event_ids) == 2  # the last motion and the bed exit


def test_got_up_and_left_the_flat_is_no_fall() -> None:
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("06:30", 1))
    home.store(BEDROOM, "motion", home.at("06:30", 1) + 20)
    home.store(HALL, "motion", home.at("06:34", 1))
    home.store(HALL, "door_open", home.at("06:35", 1))
    home.store(HALL, "door_close", home.at("06:35", 1) + 6)
    home.run_until(home.at("08:30", 1))
    assert home.raised() == []
    assert home.state.resident("r1").away


def test_a_mat_that_lost_the_sleeper_raises_no_fall() -> None:
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("01:10", 1))  # no motion anywhere around it
    home.store(BEDROOM, "motion", home.at("02:30", 1))  # turning over, seen by the PIR
    home.run_until(home.at("04:00", 1))
    assert home.state.resident("r1").exit_doubtful
    home.store(BED, "bed_in", home.at("04:00", 1))  # the mat finds her again
    home.store(BED, "bed_out", home.at("07:30", 1))
    home.store(BEDROOM, "motion", home.at("07:30", 1) + 15)
    home.store(BATH, "motion", home.at("07:32", 1))
    home.store(HALL, "motion", home.at("07:50", 1))
    assert home.raised() == []


def test_a_doubtful_exit_is_confirmed_by_motion_in_another_room() -> None:
    # No motion by the bed (the bedroom PIR missed her), but she is in the bathroom later:
    # she did get up, and stillness there is watched.
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("02:00", 1))
    assert home.state.resident("r1").exit_doubtful
    home.store(BATH, "motion", home.at("02:05", 1))
    assert not home.state.resident("r1").exit_doubtful
    home.run_until(home.at("03:00", 1))
    assert [a.kind for a in home.raised()] == ["possible_fall"]


def test_a_doubtful_exit_that_nothing_ends_is_caught_as_not_up() -> None:
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("02:00", 1))  # and nothing more at all
    home.run_until(home.at("12:00", 1))
    alarms = home.raised()
    assert [a.kind for a in alarms] == ["not_up"]
    assert home.at("11:00", 1) <= alarms[0].at < home.at("11:00", 1) + 30  # latest_rise


def test_a_short_toilet_visit_with_return_to_bed_raises_nothing() -> None:
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("03:00", 1))
    home.store(BEDROOM, "motion", home.at("03:00", 1) + 5)
    home.store(BATH, "motion", home.at("03:02", 1))
    home.store(BATH, "motion", home.at("03:14", 1))  # sat still a while
    home.store(BEDROOM, "motion", home.at("03:16", 1))
    home.store(BED, "bed_in", home.at("03:17", 1))
    home.run_until(home.at("06:30", 1))
    assert home.raised() == []


def test_back_to_bed_right_after_an_early_toilet_visit_is_still_the_night() -> None:
    # Up at 06:50, back in bed at 07:10 (after night_end): the rest of the night, judged by
    # the rise time (11:00 while learning), not as a nap (3 h: 10:10).
    home = RulesHome()
    night(home)
    home.store(BED, "bed_out", home.at("06:50", 1))
    home.store(BEDROOM, "motion", home.at("06:50", 1) + 10)
    home.store(BATH, "motion", home.at("06:55", 1))
    home.store(BED, "bed_in", home.at("07:10", 1))
    assert home.state.resident("r1").stay_night
    home.run_until(home.at("10:50", 1))
    assert home.raised() == []
    home.run_until(home.at("11:10", 1))
    assert [a.kind for a in home.raised()] == ["not_up"]
