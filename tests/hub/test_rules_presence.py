"""Presence from positive evidence: leaving is inferred only from the door, staying from any
sign of life after it, and no absence silences the rules for ever."""

from __future__ import annotations

from support.rules_home import BATH, HALL, KITCHEN, LIVING, RulesHome
from trygg.hub.rules.model import HUB_AWAY_OFF, HUB_AWAY_ON


def leave(home: RulesHome, hhmm: str, day: int = 0) -> float:
    """Walk from the kitchen through the hall and out; returns the door close."""
    t = home.at(hhmm, day)
    home.store(KITCHEN, "motion", t - 40)
    home.store(HALL, "motion", t - 10)
    home.store(HALL, "door_open", t)
    home.store(HALL, "door_close", t + 6)
    return t + 6


def come_back(home: RulesHome, hhmm: str, day: int = 0, moving: bool = True) -> float:
    t = home.at(hhmm, day)
    home.store(HALL, "door_open", t)
    home.store(HALL, "door_close", t + 6)
    if moving:
        home.store(HALL, "motion", t + 30)
        home.store(KITCHEN, "motion", t + 120)
    return t + 6


def test_leaving_is_an_absence_and_no_stillness_is_alarmed_while_out() -> None:
    home = RulesHome()
    closed = leave(home, "10:00")
    home.run_until(closed + 2 * 3600)
    rs = home.state.resident("r1")
    assert rs.away
    assert rs.away_since == closed
    come_back(home, "12:00")
    assert not rs.away
    assert home.raised() == []


def test_a_report_from_another_room_held_back_before_the_door_closed_is_not_staying() -> None:
    # The kitchen unit saw her before she left; its report of that comes at the end of its
    # hold-off, after the door closed. It must not be taken for someone inside.
    home = RulesHome()
    t = home.at("10:00")
    home.store(KITCHEN, "motion", t - 50)
    home.store(HALL, "motion", t - 10)
    home.store(HALL, "door_open", t)
    home.store(HALL, "door_close", t + 6)
    home.store(KITCHEN, "motion", t + 10)  # 60 s after its last report: the trailing one
    home.run_until(t + 3 * 3600)
    assert home.state.resident("r1").away
    assert home.raised() == []


def test_motion_seconds_after_the_door_closed_counts_and_a_fall_there_is_alarmed() -> None:
    # She saw a visitor out, closed the door, took a step in the hall and fell.
    home = RulesHome()
    t = home.at("15:00")
    home.store(HALL, "motion", t - 20)
    home.store(HALL, "door_open", t)
    home.store(HALL, "door_close", t + 10)
    home.store(HALL, "motion", t + 14)  # the door's own unit, after the close: certain
    home.run_until(t + 4 * 3600)
    rs = home.state.resident("r1")
    assert not rs.away
    alarms = home.raised("possible_fall")
    assert len(alarms) == 1
    assert alarms[0].at - (t + 14) < 2 * 3600 + 60  # the default while nothing is learned


def test_any_door_edge_ends_an_absence_and_a_fall_after_coming_home_is_alarmed() -> None:
    home = RulesHome()
    leave(home, "10:00")
    home.run_until(home.at("11:00"))
    assert home.state.resident("r1").away
    back = come_back(home, "11:30", moving=False)  # opens, closes, falls in the hall
    rs = home.state.resident("r1")
    assert not rs.away
    assert rs.leaving_at is None
    home.run_until(back + 3 * 3600)
    assert [a.kind for a in home.raised()] == ["possible_fall"]


def test_a_sign_of_life_long_after_the_door_ends_an_inferred_absence() -> None:
    # A visitor left; she sat on in front of the television without a PIR trigger for 12
    # minutes: the hub took the flat for empty, until she moved.
    home = RulesHome()
    t = home.at("19:00")
    home.store(HALL, "motion", t - 20)
    home.store(HALL, "door_open", t)
    home.store(HALL, "door_close", t + 10)
    home.run_until(t + 11 * 60)
    rs = home.state.resident("r1")
    assert rs.away
    home.store(LIVING, "motion", t + 12 * 60)
    assert not rs.away
    assert rs.seen_room == "living room"


def test_trigger_counts_in_heartbeats_end_an_absence_and_place_her() -> None:
    # Motion events lost or held back: the heartbeat's count still says someone moved.
    home = RulesHome()
    closed = leave(home, "10:00")
    home.heartbeat(LIVING, closed + 60, triggers=0)
    home.run_until(closed + 20 * 60)
    rs = home.state.resident("r1")
    assert rs.away
    home.heartbeat(LIVING, closed + 360, triggers=3)  # counted after the door closed
    assert not rs.away
    assert rs.seen_room == "living room"
    assert rs.seen_at == closed + 60


def test_a_trigger_count_that_may_predate_the_door_does_not_end_an_absence() -> None:
    home = RulesHome()
    home.heartbeat(KITCHEN, home.at("09:58"), triggers=0)
    closed = leave(home, "10:00")
    home.run_until(closed + 11 * 60)
    home.heartbeat(KITCHEN, home.at("10:03"), triggers=4)  # 1 reported, 3 more before 10:00?
    assert home.state.resident("r1").away


def test_triggers_already_reported_as_motion_are_no_new_sign_of_life() -> None:
    home = RulesHome()
    t = home.at("09:00")
    home.heartbeat(BATH, t, triggers=0)
    home.store(BATH, "motion", t + 60, value=1)
    home.store(BATH, "motion", t + 120, value=2)
    home.heartbeat(BATH, t + 300, triggers=3)
    # The second report came within a hold-off of the first: it may stand for movement right
    # after it, and is placed there.
    assert home.state.resident("r1").seen_at == t + 60


def test_an_absence_longer_than_usual_raises_a_check_that_coming_home_resolves() -> None:
    home = RulesHome()
    closed = leave(home, "09:00")
    home.run_until(closed + 5 * 3600)
    checks = home.raised("inactivity")
    assert len(checks) == 1
    assert closed + 4 * 3600 <= checks[0].at < closed + 4 * 3600 + 30  # outing_default_h
    assert checks[0].description == "Not back as usual: out 4 h"
    come_back(home, "15:00")
    assert [r.reason for r in home.resolved("inactivity")] == ["activity"]


def test_the_check_follows_her_own_outings_once_learned() -> None:
    home = RulesHome(tick_s=60)
    for day in range(28):  # an hour's walk every morning for four weeks
        leave(home, "09:00", day)
        come_back(home, "10:00", day)
        home.store(KITCHEN, "motion", home.at("10:10", day))
        home.store(KITCHEN, "motion", home.at("20:00", day))
    closed = leave(home, "09:00", 28)
    home.run_until(closed + 3 * 3600)
    checks = home.raised("inactivity")
    assert len(checks) == 1
    # the longest outing (1 h) x 1.5 + 5 min, but never under outing_floor_h (2 h)
    assert closed + 2 * 3600 <= checks[0].at < closed + 2 * 3600 + 60
    assert checks[0].description == "Not back as usual: out 2 h; usually back within 1 h"


def test_a_commanded_absence_lasts_until_it_is_ended() -> None:
    home = RulesHome()
    home.store(KITCHEN, "motion", home.at("08:00"))
    home.hub_event(HUB_AWAY_ON, home.at("09:00"))
    home.store(HALL, "door_open", home.at("12:00"))  # a carer waters the plants
    home.store(HALL, "door_close", home.at("12:00") + 5)
    home.store(KITCHEN, "motion", home.at("12:02"))
    home.run_until(home.at("12:00", 2))
    assert home.state.resident("r1").away
    assert home.raised() == []
    home.hub_event(HUB_AWAY_OFF, home.at("12:30", 2))
    assert not home.state.resident("r1").away


def test_a_holdoffs_count_is_placed_before_a_later_room_she_was_seen_in() -> None:
    # Kitchen -> hall -> living room: the hall unit's count of its hold-off arrives after the
    # living room's report, but stands for movement before it. She is in the living room.
    home = RulesHome()
    t = home.at("12:43")
    home.store(HALL, "motion", t + 18, value=1)  # the first trigger, at once
    home.store(LIVING, "motion", t + 22, value=1)
    home.store(HALL, "motion", t + 79, value=1)  # its hold-off's count, a minute later
    rs = home.state.resident("r1")
    assert rs.seen_room == "living room"
    assert rs.seen_at == t + 22
