"""``trygg bench care --quick`` end to end at a tiny size (no timing asserted), its JSON line,
and the one list that says which alarm kinds are care alarms."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from trygg.hub.replay.recording import Recording
from trygg.hub.rules import LocalCheck, alarm_kinds
from trygg.hub.rules.model import PRIORITY
from trygg.tools.bench import care as bench_care
from trygg.tools.cli import main as cli
from trygg.tools.sim import resident


def test_every_alarm_kind_is_either_a_care_alarm_or_not() -> None:
    care, other = set(bench_care.CARE_KINDS), set(bench_care.NOT_CARE_KINDS)
    assert not care & other
    # A new kind of alarm must be placed in one of the two lists (tools/bench/care.py).
    assert care | other == set(alarm_kinds.KINDS)
    assert set(PRIORITY) <= care | other


def test_bench_care_quick_runs_end_to_end_and_prints_a_json_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["bench", "care", "--quick", "--profiles", "1", "--falls", "1",
                     "--datasets", str(tmp_path / "no-datasets"), "--workers", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    doc = json.loads(lines[-1])
    assert doc["bench"] == "care"
    assert doc["version"] == 1
    assert doc["placelab"].startswith("absent")  # said so, not an error
    assert "Public recordings: absent" in out
    assert doc["care_kinds"] == list(bench_care.CARE_KINDS)
    synthetic = doc["false_alarms"]["synthetic"]
    assert synthetic["homes"] == 1
    assert synthetic["resident_days"] == 2.0
    assert set(synthetic["by_kind"]) == set(bench_care.CARE_KINDS)
    falls = doc["falls"]["all"]
    assert falls["n"] == doc["homes"][0]["falls"] >= 5  # one per moment category present
    assert set(doc["falls"]["by_category"]) >= {"bathroom", "morning_rise",
                                                "daytime_living_room"}
    for key in ("within_30min", "within_24h", "p50_min", "p90_min", "max_min", "never",
                "first_alarm"):
        assert key in falls
    assert falls["never"] + sum(n for k, n in falls["first_alarm"].items() if k != "none") \
        == falls["n"]
    assert set(doc["goal"]) == {"false_per_resident_30d_le_1", "falls_within_24h_100pct",
                                "falls_within_30min_ge_95pct", "p90_le_30min"}


def test_bench_care_refuses_a_bad_setting_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["bench", "care", "--quick", "--profiles", "1", "--datasets",
                     str(tmp_path), "--set", "thresholds.still_ceiling_min=0"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "thresholds.still_ceiling_min: 0.0 out of range" in err


def test_percentiles_count_a_fall_never_alarmed_as_the_longest() -> None:
    outcomes = [bench_care.FallOutcome(0.0, "c", None, "inactivity", 600.0 * i)
                for i in range(1, 10)]
    outcomes.append(bench_care.FallOutcome(0.0, "c", None, None, None))
    f = bench_care._fall_figures(outcomes)
    assert (f["n"], f["never"], f["within_24h"]) == (10, 1, 0.9)
    assert f["within_30min"] == 0.3  # 10, 20 and 30 min
    assert f["p50_min"] == 50.0
    assert f["p90_min"] == 90.0
    assert f["max_min"] is None


def test_bench_care_quick_as_ci_runs_it() -> None:
    """``trygg bench care --quick`` as it is: with the public recordings if they are beside
    the repository (a few days of each), else without, and says which."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "bench", "care",
                           "--quick"],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["synthetic_profiles"] == 2
    assert doc["false_alarms"]["synthetic"]["homes"] == 2
    present = not doc["placelab"].startswith("absent")
    assert ("placelab" in doc["false_alarms"]) == present
    if present:
        assert "derived:" in proc.stdout  # figures from derived signals say so


def test_bench_care_counts_checks_apart_from_centre_alarms_and_compares(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A 30-minute stillness default makes the two learning days ask the resident.
    code = cli.main(["bench", "care", "--quick", "--profiles", "1", "--falls", "1",
                     "--datasets", str(tmp_path / "no-datasets"), "--workers", "1",
                     "--set", "thresholds.still_default_min=30"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["prompting_device"] == "call_point"
    assert doc["answer_model"] == {"awake": 0.9, "asleep": 0.3, "out": 0.0, "fallen": 0.0,
                                   "delay_min_s": 10.0, "delay_mean_s": 30.0, "seed": 0}
    assert "call point that prompts" in out.splitlines()[0]
    synthetic = doc["false_alarms"]["synthetic"]
    asked = sum(synthetic["checks_by_state"].values())
    assert asked > 0
    assert synthetic["local_checks_per_resident_30d"] == round(asked * 30 / 2, 2)
    assert sum(synthetic["check_outcomes"].values()) == asked  # every check ended
    # An unanswered check is a false alarm at the centre, nothing else is.
    assert synthetic["count"] == synthetic["check_outcomes"].get("no answer", 0)
    for key in ("sensitivity", "without_prompting"):
        assert set(doc[key]) >= {"false_per_resident_30d", "checks_per_resident_30d",
                                 "falls_within_30min", "p90_min"}
    assert doc["without_prompting"]["checks_per_resident_30d"] == 0.0
    assert doc["sensitivity"]["answer_awake"] == 0.7
    assert "Without a prompting device" in out
    assert "Sensitivity (answers awake p=0.7, asleep p=0.1)" in out


def _resident_with(states: list[list[object]]) -> Recording:
    rec = resident.generate("early_napper", 0, 1)
    rec.about["resident_states"] = states
    return rec


def _check(at: float, answer_by: float | None = None) -> LocalCheck:
    return LocalCheck("possible_fall-r-1", "possible_fall", "r", (bench_care.CALL_POINT_ID,),
                      "No movement", (1,), at, at + 120.0 if answer_by is None else answer_by,
                      at)


def test_the_resident_answers_as_her_state_allows_and_never_when_out() -> None:
    t0 = 1_000_000.0
    rec = _resident_with([[t0, t0 + 100, "awake"], [t0 + 100, t0 + 200, "asleep"],
                          [t0 + 200, t0 + 300, "out"]])
    sure = bench_care.Resident(rec, bench_care.AnswerModel(awake=1.0, asleep=1.0), "home")
    [press] = sure.respond(_check(t0 + 10))
    assert press.device_id == bench_care.CALL_POINT_ID
    assert press.msg["event"] == "button"
    assert t0 + 20 <= press.t < t0 + 130  # 10 s at least, within the window
    assert sure.respond(_check(t0 + 210)) == []  # out of the home: never
    assert sure.respond(_check(t0 + 10, answer_by=t0 + 15)) == []  # too slow for the window
    never = bench_care.Resident(rec, bench_care.AnswerModel(awake=0.0, asleep=0.0), "home")
    assert never.respond(_check(t0 + 10)) == []
    assert never.respond(_check(t0 + 110)) == []
    assert sure.asked == {"awake": 2, "out": 1}


def test_a_fallen_resident_answers_no_check() -> None:
    """Falls continue a copy of the home in which she answers nothing: the fall's alarm comes
    after the unanswered window, though she answers every check on normal life."""
    job = bench_care.HomeJob("synthetic", "early_napper-s0", "synthetic", "early_napper", 0,
                             3, 1, ("thresholds.still_default_min=30",),
                             answers=bench_care.AnswerModel(awake=1.0, asleep=1.0))
    result = bench_care.run_home(job)
    assert result.check_outcomes.get("answered", 0) > 0
    assert result.falls
    window = 120.0
    for fall in result.falls:
        assert fall.answered == 0
        assert fall.delay_s is not None
        assert fall.delay_s >= window  # asked first, and nobody answered


def test_an_answer_is_drawn_for_the_check_asked_not_for_its_event_number() -> None:
    """A check's id carries its cause event's number, which every earlier stored press shifts:
    two settings compared on one home must draw the same answer to the same question (kind,
    moment asked), or every difference after the first answer would be the draw's."""
    t0 = 1_000_000.0
    rec = _resident_with([[t0, t0 + 86400, "awake"]])
    half = bench_care.AnswerModel(awake=0.5, asleep=0.5)
    a, b = bench_care.Resident(rec, half, "home"), bench_care.Resident(rec, half, "home")
    drawn = []
    for k in range(40):
        at = t0 + 600.0 * k
        check = _check(at)
        shifted = dataclasses.replace(check, check_id=f"possible_fall-r-{1000 + k}")
        mine, theirs = a.respond(check), b.respond(shifted)
        assert [(p.t, p.msg) for p in mine] == [(p.t, p.msg) for p in theirs]
        drawn.append(bool(mine))
    assert 5 < sum(drawn) < 35  # both answers occur: the comparison is not vacuous
