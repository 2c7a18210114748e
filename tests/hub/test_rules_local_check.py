"""Local checks: where a device can prompt the resident, a doubtful care condition asks her
first; her press ends it without an alarm, no answer sends the alarm with the check in its text.
Fire, calls for help and a device's fall never wait; a home without a prompting device is
unchanged."""

from __future__ import annotations

import dataclasses

from test_rules_stillness import FULL, every, usual_day

from support.rules_home import BED, BEDROOM, CALL, KITCHEN, LIVING, SMOKE, RulesHome
from trygg.hub.rules import (
    DeviceInfo,
    LocalCheck,
    LocalCheckEnded,
    RaiseAlarm,
    Resident,
    RulesConfig,
    RulesEngine,
    State,
    Thresholds,
    replay,
)


def checks(home: RulesHome) -> list[LocalCheck]:
    return [a for a in home.actions if isinstance(a, LocalCheck)]


def ended(home: RulesHome) -> list[LocalCheckEnded]:
    return [a for a in home.actions if isinstance(a, LocalCheckEnded)]


def still_in_the_kitchen(home: RulesHome) -> None:
    """Up at 08:00, the kitchen till 09:30, then nothing: no history, so she is asked at
    check_default_min (20): 09:50; the alarm default (still_default_min, 120) is 11:30."""
    home.store(BED, "bed_out", home.at("08:00"))
    home.store(BEDROOM, "motion", home.at("08:00") + 10)
    every(home, KITCHEN, home.at("08:10"), home.at("09:30"), 10)


def test_a_stillness_is_first_a_check_and_her_answer_ends_it_without_an_alarm() -> None:
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("09:51"))
    [check] = checks(home)
    assert check.kind == "possible_fall"
    assert check.device_ids == (CALL,)
    assert check.asked_at == home.at("09:50")
    assert check.answer_by == home.at("09:52")  # check_window_min 2
    assert check.reason.startswith("No movement for 20 min in kitchen")
    assert home.raised() == []
    home.store(CALL, "button", home.at("09:51"))  # "I am fine"
    assert [(e.check_id, e.outcome) for e in ended(home)] == [(check.check_id, "answered")]
    home.run_until(home.at("11:20"))
    assert home.raised() == []  # no alarm at the centre, no assistance call either
    # The answer was a sign of life: a new stillness from 09:51 may be asked about again.
    home.run_until(home.at("11:52"))
    assert [c.asked_at for c in checks(home)] == [home.at("09:50"), home.at("11:51")]


def test_an_unanswered_check_is_asked_again_then_goes_to_the_centre_with_it_in_its_text() -> None:
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("10:20"))
    first, again = checks(home)
    # No answer by 09:52: the same check is asked once more (check_reasks 1), for a window of
    # its own that begins where the first ended.
    assert (again.check_id, again.attempt) == (first.check_id, 2)
    assert (again.asked_at, again.answer_by) == (home.at("09:52"), home.at("09:54"))
    assert home.at("09:52") <= again.at < home.at("09:52") + home.tick_s
    [alarm] = home.raised()
    assert alarm.kind == "possible_fall"
    assert alarm.alarm_id == first.check_id
    assert home.at("09:54") <= alarm.at < home.at("09:54") + home.tick_s
    # The centre's text is at most 80 characters with its kind (texts.py): the window's length
    # is left out when it does not fit.
    assert alarm.description == ("No movement for 24 min in kitchen; asked 09:50 (2x), "
                                 "no answer")
    assert alarm.cause_event_ids == first.cause_event_ids
    assert [(e.outcome, e.reason) for e in ended(home)] == [("no answer", "no answer in 4 min")]


def test_an_answer_to_the_repeated_prompt_spares_the_centre() -> None:
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("09:53"))
    assert [c.attempt for c in checks(home)] == [1, 2]
    home.store(CALL, "button", home.at("09:53"))
    assert [e.outcome for e in ended(home)] == ["answered"]
    home.run_until(home.at("10:50"))
    assert home.raised() == []


def test_without_repeats_an_unanswered_check_goes_to_the_centre_after_one_window() -> None:
    resident = Resident(id="r1", arc_account="1234", thresholds=Thresholds(check_reasks=0))
    home = RulesHome(resident=resident, prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("10:20"))
    assert len(checks(home)) == 1  # one prompt, no repeat
    [alarm] = home.raised()
    assert home.at("09:52") <= alarm.at < home.at("09:52") + home.tick_s
    assert alarm.description == "No movement for 22 min in kitchen; asked 09:50, no answer"


def test_a_press_during_a_check_is_no_call_for_help_but_the_next_press_is() -> None:
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("09:51"))
    home.store(CALL, "button", home.at("09:51"))
    assert home.raised() == []
    home.store(CALL, "button", home.at("10:00"))  # the check is over: a call for help
    assert [a.kind for a in home.raised()] == ["assistance"]


def test_early_prompts_are_bounded_per_hour_and_above_the_bound_she_is_asked_at_the_alarm_point(
) -> None:
    # A 20-minute default so that two stillness episodes fit in an hour; one prompt an hour.
    resident = Resident(id="r1", arc_account="1234", thresholds=Thresholds(
        still_default_min=20.0, check_max_per_hour=1))
    home = RulesHome(resident=resident, prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("09:51"))
    assert [c.asked_at for c in checks(home)] == [home.at("09:50")]
    home.store(CALL, "button", home.at("09:51"))
    # A second stillness within the hour: she answered the first prompt, so she is asked
    # again -- not at a check point, but at the alarm point (09:51 + 20 min) -- ...
    home.run_until(home.at("10:12"))
    assert [(c.asked_at, c.attempt) for c in checks(home)] == [
        (home.at("09:50"), 1), (home.at("10:11"), 1)]
    assert home.raised() == []
    # ... and with no answer to that prompt and its repeat, the centre is called.
    home.run_until(home.at("10:30"))
    [alarm] = home.raised()
    assert home.at("10:15") <= alarm.at < home.at("10:15") + home.tick_s
    assert "asked 10:11 (2x), no answer" in alarm.description


def test_a_home_without_a_prompting_device_alarms_exactly_as_before() -> None:
    plain = RulesHome()
    still_in_the_kitchen(plain)
    plain.run_until(home_end := plain.at("12:00"))
    [alarm] = plain.raised()
    assert plain.at("11:30") <= alarm.at < plain.at("11:30") + plain.tick_s
    assert alarm.description == "No movement for 2 h in kitchen"
    assert not checks(plain)
    assert not ended(plain)
    # A call point whose role description does not say it prompts is no prompting device:
    # the capability is data, not the role's name.
    mute = RulesHome(prompting=True)
    devices = dict(mute.engine.config.devices)
    devices[CALL] = dataclasses.replace(devices[CALL], prompts=False)
    mute.engine = RulesEngine(RulesConfig(mute.engine.config.residents, devices))
    still_in_the_kitchen(mute)
    mute.run_until(home_end)
    assert [(a.alarm_id, a.at, a.description) for a in mute.raised()] == [
        (alarm.alarm_id, alarm.at, alarm.description)]
    assert not checks(mute)


def test_fire_a_call_for_help_and_a_device_fall_never_wait() -> None:
    home = RulesHome(prompting=True)
    devices: dict[str, DeviceInfo] = dict(home.engine.config.devices)
    pendant = "fa0000000001"  # a worn button that prompts and detects falls
    devices[pendant] = DeviceInfo(pendant, "call_point", None, "r1", 98, 30 * 86400.0,
                                  home.now, prompts=True)
    home.engine = RulesEngine(RulesConfig(home.engine.config.residents, devices))
    still_in_the_kitchen(home)
    home.run_until(home.at("09:50") + 10)
    assert len(checks(home)) == 1  # a check waits for her answer ...
    home.store(SMOKE, "smoke_alarm", home.at("09:50") + 20)  # ... fire does not wait for it
    home.store(pendant, "fall", home.at("09:51"))  # nor does a fall a device detected
    assert [(a.kind, a.at) for a in home.raised()] == [
        ("fire", home.at("09:50") + 20), ("device_fall", home.at("09:51"))]
    home.run_until(home.at("09:55"))  # unanswered twice: the stillness goes to the centre
    home.store(CALL, "button", home.at("10:00"))  # no check waits: a call for help, at once
    assert [(a.kind, a.at) for a in home.raised()][-1] == ("assistance", home.at("10:00"))
    assert [c.attempt for c in checks(home)] == [1, 2]


def test_not_up_is_asked_about_and_her_answer_spares_the_centre() -> None:
    home = RulesHome(prompting=True)
    home.store(BED, "bed_in", home.at("22:30"))  # and stays in bed
    home.run_until(home.at("11:00", 1) + 60)
    [check] = checks(home)
    assert check.kind == "not_up"
    assert check.asked_at == home.at("11:00", 1)  # latest_rise while learning
    home.store(CALL, "button", home.at("11:01", 1))
    home.run_until(home.at("14:00", 1))
    assert home.raised() == []
    assert len(checks(home)) == 1  # the same stay is not asked about again


def test_a_learned_stillness_is_asked_about_before_its_alarm_point() -> None:
    def last_kitchen_morning(prompting: bool) -> RaiseAlarm:
        home = RulesHome(tick_s=60, prompting=prompting)
        for day in range(FULL):
            usual_day(home, day)
        home.store(BED, "bed_out", home.at("07:00", FULL))
        home.store(BEDROOM, "motion", home.at("07:00", FULL) + 10)
        every(home, KITCHEN, home.at("07:10", FULL), home.at("09:00", FULL), 8)
        home.run_until(home.at("10:00", FULL))
        # (With a call point, nobody answering the learning days' early checks in the living
        # room sent those to the centre: the last morning's alarm is the one in question.)
        [alarm] = [a for a in home.raised() if a.at >= home.at("07:00", FULL)]
        return alarm

    last = RulesHome().at("08:54", FULL)  # the last kitchen trigger
    # Her longest kitchen stillness around that hour on four weeks was 11 min: without a
    # prompting device the alarm comes at 11 x 1.5 + 5 = 21.5 min (test_rules_stillness.py);
    # with one she is asked at 11 + 5 = 16 min (check_quantile 1.0: longer than on any day,
    # by learn_margin_min), again at 18, and no answer reaches the centre at 20 min.
    plain = last_kitchen_morning(False)
    assert last + 21.5 * 60 <= plain.at < last + 21.5 * 60 + 60
    asked = last_kitchen_morning(True)
    assert last + 20 * 60 <= asked.at < last + 21 * 60
    assert "; asked 09:10 (2x), no answer" in asked.description


def test_replaying_the_stored_events_decides_every_check_as_live_ticking_did() -> None:
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("09:51"))
    home.store(CALL, "button", home.at("09:51"))  # answers the first check
    home.run_until(home.at("12:20"))  # the second, at 11:51, goes unanswered
    assert [e.outcome for e in ended(home)] == ["answered", "no answer"]
    # As the hub rebuilds after a restart: a tick only at each stored event's time. When the
    # check began and until when she could answer are the state's, not the ticks': the
    # answered check is found and answered again, the unanswered one raises the same alarm.
    engine = RulesEngine(home.engine.config)
    state = State()
    replayed = list(replay(engine, state, home.stored, until=home.now))
    assert [a.alarm_id for a in replayed if isinstance(a, RaiseAlarm)] == [
        a.alarm_id for a in home.raised()]
    first = checks(home)[0]
    assert next((c.check_id, c.asked_at, c.answer_by) for c in replayed
                if isinstance(c, LocalCheck)) == (first.check_id, first.asked_at,
                                                  first.answer_by)
    assert next((e.check_id, e.outcome) for e in replayed
                if isinstance(e, LocalCheckEnded)) == (first.check_id, "answered")
    assert state.raised == home.state.raised
    assert state.residents["r1"].checks == home.state.residents["r1"].checks
    # Between two stored events the second window passed unseen: the alarm says she was not
    # asked (as after a hub outage). Live, the centre has the text above; a rebuild only
    # recognises the stored alarm by its id.
    assert [a.description for a in replayed if isinstance(a, RaiseAlarm)] == [
        "No movement for 2 h 29 min in kitchen; not asked (due 11:51)"]


def test_a_check_ends_without_an_alarm_when_she_is_seen_in_another_room() -> None:
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("09:51"))
    home.store(BEDROOM, "motion", home.at("09:51"))  # walked away: no answer needed
    home.run_until(home.at("10:05"))
    assert home.raised() == []
    assert [(e.outcome, e.reason) for e in ended(home)] == [("ended", "moving in another room")]
    # ... but movement in the kitchen itself may be someone on the floor: the check waits.
    home2 = RulesHome(prompting=True)
    still_in_the_kitchen(home2)
    home2.run_until(home2.at("09:51"))
    home2.store(KITCHEN, "motion", home2.at("09:51"))
    home2.run_until(home2.at("10:05"))
    assert [a.kind for a in home2.raised()] == ["possible_fall"]


def test_her_answer_places_her_at_the_call_point_and_the_routine_keeps_the_whole_spell() -> None:
    home = RulesHome(prompting=True)  # the call point is in the kitchen
    home.store(BED, "bed_out", home.at("08:00"))
    home.store(BEDROOM, "motion", home.at("08:00") + 10)
    every(home, LIVING, home.at("08:10"), home.at("09:30"), 10)
    home.run_until(home.at("09:51"))
    assert checks(home)[0].reason.startswith("No movement for 20 min in living room")
    home.store(CALL, "button", home.at("09:51"))
    rs = home.state.residents["r1"]
    assert rs.seen_room == "kitchen"  # she pressed the kitchen's call point
    home.store(LIVING, "motion", home.at("11:40"))
    # The quiet spell the routine learns ran from 09:30 to 11:40 in the living room: the
    # press was asked for, not a movement of hers.
    [cells] = rs.routine.still.values()  # one local day
    assert cells[("living room", 11)] == home.at("11:40") - home.at("09:30")


def test_while_nothing_is_learned_she_is_asked_early_and_no_answer_reaches_the_centre_in_30_min(
) -> None:
    # No history: the alarm default in the kitchen is still_default_min (120 min: 11:30), but
    # the rules do not know her norms, so they ask at check_default_min (20 min: 09:50).
    home = RulesHome(prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("10:00"))
    first, again = checks(home)
    assert (first.asked_at, again.asked_at) == (home.at("09:50"), home.at("09:52"))
    [alarm] = home.raised()
    assert alarm.at - home.at("09:30") <= 30 * 60  # a fall at 09:30 is at the centre by then
    assert alarm.description == "No movement for 24 min in kitchen; asked 09:50 (2x), no answer"
    # The asking point is never later than the alarm default: set beyond it, she is asked
    # there, as before the setting existed.
    late = Resident(id="r1", arc_account="1234", thresholds=Thresholds(check_default_min=180.0))
    home = RulesHome(resident=late, prompting=True)
    still_in_the_kitchen(home)
    home.run_until(home.at("11:31"))
    assert [c.asked_at for c in checks(home)] == [home.at("11:30")]


def test_while_learning_what_one_day_has_shown_in_a_room_lengthens_the_asking_point() -> None:
    # Day 0: up at 07:00, the living room from 11:05 with a PIR trigger every 50 min at most
    # (usual_day). One day is not enough to learn from (learn_min_days 2), but asking after 20
    # quiet minutes there would ask about what she did yesterday: she is asked when a spell is
    # longer than the longest seen (50 min) by learn_margin_min (5): 55 min.
    home = RulesHome(prompting=True)
    usual_day(home, 0)
    home.store(BED, "bed_out", home.at("07:00", 1))
    home.store(BEDROOM, "motion", home.at("07:00", 1) + 10)
    every(home, KITCHEN, home.at("07:10", 1), home.at("11:00", 1), 8)
    home.store(LIVING, "motion", home.at("11:05", 1))  # then nothing
    home.run_until(home.at("12:30", 1))
    assert [c.asked_at for c in checks(home) if c.asked_at >= home.at("07:00", 1)] == [
        home.at("12:00", 1), home.at("12:02", 1)]  # and its repeat
