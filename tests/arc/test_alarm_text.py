"""The alarm text the centre reads: the longest texts the rules make arrive shortened between
words, never with a cut number, and a restore keeps why the alarm ended."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.arc import config, receiver
from trygg.hub.arc import dc09
from trygg.hub.arc.protocols import dc09 as dc09_protocol
from trygg.hub.arc.report import CUT_MARK, AlarmReport, restore_description, shorten
from trygg.hub.config import Resident, Thresholds
from trygg.hub.rules import (
    DeviceInfo,
    Event,
    RaiseAlarm,
    ResolveAlarm,
    RulesConfig,
    RulesEngine,
    State,
    Tick,
)

NUMBER = re.compile(r"\d+(?:\.\d+)?")
T0 = 1_741_737_600.0  # 2025-03-12 00:00 UTC, 01:00 in Oslo: night
BED, HALL, PILLS = "b00000000001", "a00000000004", "d00000000001"
# The demo's fall thresholds (tools/sim/demo.py): the longest numbers the fall text carries.
DEMO = Thresholds(bed_exit_return_min=0.25, night_no_motion_min=0.25)
# The longest heartbeat interval a device may be given (protocol config heartbeat_s 10..86400).
LONGEST_HEARTBEAT_S = 86_400.0


def run_rules(thresholds: Thresholds, steps: list[tuple[float, str, str, str | None]]
              ) -> list[RaiseAlarm | ResolveAlarm]:
    """Feed ``(time, device, type, event name)`` and a tick every 10 s to the rules engine."""
    resident = Resident(id="r1", arc_account="1234", timezone="Europe/Oslo",
                        thresholds=thresholds)
    devices = {BED: DeviceInfo(BED, "bed", "bedroom", "r1", 1, 300.0, T0),
               HALL: DeviceInfo(HALL, "motion", "hall", "r1", 2, 300.0, T0),
               PILLS: DeviceInfo(PILLS, "dispenser", "kitchen", "r1", 3, LONGEST_HEARTBEAT_S,
                                 T0)}
    engine, state = RulesEngine(RulesConfig({"r1": resident}, devices)), State()
    actions: list[RaiseAlarm | ResolveAlarm] = []
    events = [Event(i + 1, t, device, i, "r1", kind, name, None, None,
                    {"type": kind, "event": name, "uptime": 1} if name else {"type": kind})
              for i, (t, device, kind, name) in enumerate(sorted(steps))]
    end = max(t for t, *_ in steps) + 60
    t, i = T0, 0
    while t <= end:  # bounded: the steps span hours at most
        while i < len(events) and events[i].received_at <= t:
            actions += engine.step(state, events[i], events[i].received_at)[1]
            i += 1
        actions += engine.step(state, Tick(), t)[1]
        t += 10.0
    return actions


def night_fall_and_return() -> list[RaiseAlarm | ResolveAlarm]:
    return run_rules(DEMO, [(T0 + 60, BED, "event", "bed_in"),
                            (T0 + 3600, BED, "event", "bed_out"),
                            (T0 + 3660, HALL, "event", "motion"),  # then still: 15 s
                            (T0 + 4200, HALL, "event", "motion"),  # moving in the same room
                            (T0 + 4300, BED, "event", "bed_in")])


def silent_dispenser_heard_again() -> list[RaiseAlarm | ResolveAlarm]:
    days = Thresholds().silent_heartbeats * LONGEST_HEARTBEAT_S
    return run_rules(Thresholds(), [(T0 + 30, PILLS, "heartbeat", None),
                                    (T0 + days + 600, PILLS, "heartbeat", None)])


def reports(actions: list[RaiseAlarm | ResolveAlarm]) -> list[AlarmReport]:
    """The reports hub/alarms.py makes of the rules' actions."""
    raised = {a.alarm_id: a for a in actions if isinstance(a, RaiseAlarm)}
    out = []
    for a in actions:
        if isinstance(a, RaiseAlarm):
            event, description = "raised", a.description
        else:
            event = "resolved"
            description = restore_description(raised[a.alarm_id].description, a.reason)
        out.append(AlarmReport(alarm_id=a.alarm_id, event=event, kind=a.kind, priority=2,
                               account="1234", zone=1, room=None, device_id=None,
                               description=description, raised_at=a.at))
    return out


def centre_text(report: AlarmReport) -> str:
    """The [I] text of the DC-09 message the forwarder sends for ``report``."""
    rc = config(receiver("arc", 1)).receivers[0]
    assert isinstance(rc, dc09_protocol.Dc09Receiver)
    raw = dc09_protocol.encode_report(report, 1, rc, 0, report.raised_at)
    texts = [x[1:] for x in dc09.parse_frame(raw).extended if x.startswith("I")]
    assert len(texts) == 1
    return texts[0]


@pytest.mark.parametrize("scenario", [night_fall_and_return, silent_dispenser_heard_again])
def test_longest_rule_texts_reach_the_centre_cut_between_words(
        scenario: Callable[[], list[RaiseAlarm | ResolveAlarm]]) -> None:
    actions = scenario()
    kinds = [(type(a).__name__, a.kind) for a in actions]
    assert len(actions) >= 2, kinds  # raised and resolved
    cut = 0
    for report in reports(actions):
        text = centre_text(report)
        whole = dc09.clean_text(f"{report.kind}: {report.description}", 10_000)
        assert len(text) <= dc09_protocol.ALARM_TEXT_MAX
        if text == whole:
            continue
        cut += 1
        assert text.endswith(CUT_MARK)
        head = text[: -len(CUT_MARK)]
        assert whole.startswith(head)
        assert whole[len(head)] in " ,;:-(", f"cut inside a word: {text!r}"
        assert set(NUMBER.findall(head)) <= set(NUMBER.findall(whole)), text
        assert not NUMBER.fullmatch(head.split()[-1]), f"ends on a number: {text!r}"
        if report.event == "resolved":  # why it ended survives the cut
            reason = report.description.split(" - ")[0]
            assert head.startswith(f"{report.kind}: {reason} - "), text
    assert cut, "no text was long enough to need shortening: the test proves nothing"


WORDS = st.lists(st.one_of(st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
                           st.from_regex(r"\d{1,4}(\.\d{1,3})?( min)?,?", fullmatch=True)),
                 min_size=1, max_size=40)


@given(WORDS, st.integers(min_value=4, max_value=120))
def test_shorten_cuts_only_between_words_and_marks_the_cut(words: list[str], limit: int
                                                           ) -> None:
    text = " ".join(words)
    short = shorten(text, limit)
    assert len(short) <= limit
    if len(text) <= limit:
        assert short == text
        return
    assert short.endswith(CUT_MARK)
    head = short[: -len(CUT_MARK)]
    first = text.split(" ")[0].rstrip(",")
    if len(first) > limit - len(CUT_MARK):
        assert head == text[: limit - len(CUT_MARK)]  # one word longer than the field
        return
    assert text.startswith(head)
    assert text[len(head)] in " ,;:-("
    kept = head.split()
    assert len(kept) == 1 or not any(ch.isdigit() for ch in kept[-1])  # no unit-less number


def test_shorten_examples() -> None:
    fall = "Out of bed at night for 0.25 min without return, no motion for 0.25 min"
    assert shorten(fall, 80) == fall
    assert shorten(fall, 70) == "Out of bed at night for 0.25 min without return, no motion for..."
    assert shorten(fall, 67) == "Out of bed at night for 0.25 min without return, no motion for..."
    assert shorten(fall, 50) == "Out of bed at night for 0.25 min without return..."
    assert shorten("x" * 100, 32) == "x" * 29 + CUT_MARK
