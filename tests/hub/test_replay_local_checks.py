"""The replay with a resident who answers the rules' checks (``Replayer.respond``): her press
reaches the hub among the recording's own frames, and is not pressed when the check ended
another way first (the prompt stopped)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from trygg.hub.replay import runner
from trygg.hub.replay.recording import DeviceSpec, Observation, Recording
from trygg.hub.rules import LocalCheck

ZONE = "Europe/Oslo"
KITCHEN, BEDROOM, BED, CALL = "5a0000000003", "5a0000000001", "5e0000000001", "ca0000000001"
# Asked at the alarm default (still_default_min 120) rather than sooner (check_default_min):
# one check in the morning, whatever the replay's resident answers; these tests are about
# the path of her answer, not when she is asked.
TOML = (f'[hub]\nid = "checks"\n\n[[residents]]\nid = "resident-1"\narc_account = "1001"\n'
        f'timezone = "{ZONE}"\n\n[residents.thresholds]\ncheck_default_min = 120\n')


def at(hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2025, 1, 6, h, m, tzinfo=zoneinfo.ZoneInfo(ZONE)).timestamp()


def morning(seen_elsewhere: float | None) -> Recording:
    """Up at 08:00, the kitchen till 09:30, then still: no history, so she is asked at 11:30.
    ``seen_elsewhere``: a bedroom trigger then (it ends the check)."""
    devices = [DeviceSpec(BED, "bed", "bedroom", "resident-1", "observations"),
               DeviceSpec(BEDROOM, "motion", "bedroom", "resident-1", "observations"),
               DeviceSpec(KITCHEN, "motion", "kitchen", "resident-1", "observations"),
               DeviceSpec(CALL, "call_point", "kitchen", "resident-1", "observations")]
    obs = [Observation(at("00:00") + 60, BED, "bed", True),
           Observation(at("08:00"), BED, "bed", False),
           Observation(at("08:00") + 20, BEDROOM, "pir")]
    obs += [Observation(at("08:10") + 600 * i, KITCHEN, "pir") for i in range(9)]
    if seen_elsewhere is not None:
        obs.append(Observation(seen_elsewhere, BEDROOM, "pir"))
    return Recording(at("00:00"), at("13:00"), TOML, devices, sorted(obs, key=lambda o: o.t))


async def replay_answering(rec: Recording, delay_s: float) -> tuple[runner.ReplayResult,
                                                                   list[LocalCheck]]:
    replayer = runner.Replayer(rec.config(), rec.devices, rec.start)
    asked: list[LocalCheck] = []
    presses = iter(range(1 << 30, 1 << 31))

    def respond(check: LocalCheck) -> list[runner.Delivery]:
        asked.append(check)
        t = check.at + delay_s
        return [runner.Delivery(t, CALL, next(presses), {"type": "event", "event": "button",
                                                         "uptime": 1, "time": int(t)})]

    replayer.respond = respond
    await replayer.start()
    await replayer.feed(runner.timeline(rec), rec.end)
    return replayer.result(rec.start, rec.end), asked


async def test_her_answer_reaches_the_hub_among_the_recorded_frames() -> None:
    result, asked = await replay_answering(morning(None), 40.0)
    assert [c.asked_at for c in asked] == [at("11:30")]  # 120 min after the last kitchen trigger
    ended = [a.fields["outcome"] for a in result.other_actions if a.type == "LocalCheckEnded"]
    assert ended == ["answered"]
    assert result.alarms == []  # no care alarm, and the press was no call for help


async def test_no_press_when_the_check_ended_another_way_first() -> None:
    # She walks into the bedroom 30 s into the check: the prompt stops, she presses nothing.
    result, asked = await replay_answering(morning(at("11:30") + 50), 90.0)
    assert len(asked) == 1
    ended = [a.fields["outcome"] for a in result.other_actions if a.type == "LocalCheckEnded"]
    assert ended == ["ended"]
    assert [a.kind for a in result.alarms] == []  # a late press would be an assistance call


async def test_a_restarted_hub_asks_again_only_while_a_check_waits() -> None:
    """The desk rebuilds from the store after a start: a check still waiting for her answer is
    asked again (the devices may have lost the prompt with the hub); one whose window passed
    while the hub was down goes to the centre, saying she was not asked in time."""
    rec = morning(None)
    replayer = runner.Replayer(rec.config(), rec.devices, rec.start)
    await replayer.start()
    until = at("11:30") + 30
    await replayer.feed([x for x in runner.timeline(rec) if x.t <= until], until)
    assert replayer.desk.checks_asked == 1
    assert replayer.result(rec.start, rec.end).alarms == []

    async def restarted(now: float) -> runner.Replayer:
        twin = replayer.fork()
        twin.clock.t = now
        twin.desk.state = type(twin.desk.state)()
        twin.desk.checks_asked = 0
        await twin.desk.rebuild()
        return twin

    soon = await restarted(at("11:31"))
    assert soon.desk.checks_asked == 1  # asked again, nothing raised
    assert [a.kind for a in soon.result(rec.start, rec.end).alarms] == []
    late = await restarted(at("11:40"))
    assert late.desk.checks_asked == 0
    [alarm] = late.result(rec.start, rec.end).alarms
    assert alarm.kind == "possible_fall"
    assert alarm.description.endswith("not asked (due 11:30)")
    # She answered at 11:31; a restart at 11:45 has nothing to ask.
    press = runner.Delivery(at("11:31"), CALL, 1 << 30, {"type": "event", "event": "button",
                                                          "uptime": 1, "time": int(at("11:31"))})
    await replayer.feed([press], at("11:31"))
    answered = await restarted(at("11:45"))
    assert answered.desk.checks_asked == 0
    # (Its devices, silent in this test since 11:30, are noticed; nothing about her.)
    assert {a.kind for a in answered.result(rec.start, rec.end).alarms} == {"device_silent"}
