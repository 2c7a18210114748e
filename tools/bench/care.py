"""``trygg bench care``: false care alarms on normal life, and how soon injected falls are alarmed.

Homes come from two sources: the public recordings in ``../shared/datasets`` (PlaceLab, MIT
House_n; room motion, bed and door derived from object-use sensors, see
``tools/bench/placelab.py``), read in place and never copied, and synthetic residents
(``tools/sim/resident.py``), seeded. Each home is replayed through the hub's own path
(``trygg.hub.replay``: the store, the alarm desk and the rules of ``trygg hub run``, ticks every
``tick_s``) with the home's default configuration:

* **False care alarms**: every care alarm raised on the recording as it is (nothing happened to
  these residents), per resident-30-days, by kind, per source and pooled.
* **Falls**: at systematic moments (``trygg.hub.replay.falls``) the recording is cut -- the
  resident falls and lies still, devices keep heartbeating -- and the hub goes on alone for up
  to 24 h. Recorded: the first care alarm that reaches the centre and its delay. Rather than
  replaying the cut recording from its start, the hub as it stood at the moment of the fall is
  copied (``Replayer.fork``); that this equals a full replay of the cut recording is a test.
* **Local checks**: rule actions that are not alarms and whose type names a check (asking the
  resident before calling the centre) are counted per resident-30-days, apart from alarms; a
  check's repeated prompt after no answer is counted apart from the checks.

Prints tables, then one JSON line (``{"bench": "care", ...}``). Its keys are stable.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trygg.hub.config import ConfigError
from trygg.hub.replay import falls, runner
from trygg.hub.replay.recording import DeviceSpec, Observation, Recording, RecordingError
from trygg.hub.rules import LocalCheck, LocalCheckEnded, alarm_kinds
from trygg.hub.rules import model as rules_model

# The care alarms measured here: raised by inference about the resident, the ones whose false
# alarms cost an alarm centre's trust and whose delay is the time someone lies on the floor.
# The other kinds of the care class (trygg.hub.rules.alarm_kinds) are direct calls (the button, a
# device's own fall detection), fire and medication; technical, test and link kinds are not
# about the resident at all. A new care-class kind must be placed in one of the two lists
# (tests/tools/test_bench_care.py fails until it is).
CARE_KINDS = (rules_model.POSSIBLE_FALL, rules_model.INACTIVITY, rules_model.NOT_UP)
DIRECT_KINDS = (rules_model.FIRE, rules_model.DEVICE_FALL, rules_model.ASSISTANCE,
                rules_model.MISSED_DOSE)
NOT_CARE_KINDS = DIRECT_KINDS + tuple(k.name for k in alarm_kinds.KINDS.values()
                                      if k.klass != alarm_kinds.CARE)

# How checks ended, in the printed order: answered (no alarm), ended otherwise (she moved
# elsewhere, went to bed: no alarm), no answer (the alarm went to the centre).
CHECK_OUTCOMES = (rules_model.CHECK_ANSWERED, rules_model.CHECK_ENDED,
                  rules_model.CHECK_NO_ANSWER)
WITHIN_S = 1800.0  # the goal: a fall alarmed within 30 minutes
DEFAULT_FALLS_PER_CATEGORY = 6
JSON_VERSION = 1

log = logging.getLogger("trygg.bench.care")


def is_local_check(action_type: str) -> bool:
    """A rule action that asks the resident first (counted apart from alarms)."""
    return action_type == LocalCheck.__name__


def is_reask(action_type: str, fields: dict[str, Any]) -> bool:
    """A check's prompt repeated after no answer (counted apart from the checks)."""
    return is_local_check(action_type) and int(fields.get("attempt", 1)) > 1


# The benchmark's home description adds a call point (a device that prompts, hub/roles) to
# every home, so the rules may ask the resident before calling the centre.
CALL_POINT_ID = "ca0000000001"
# The resident model answering a check (defaults; --answer-awake, --answer-asleep): awake at
# home most people hear a buzzer and reach a call point; asleep, few wake to it in two minutes;
# out, nobody answers. The delay from the prompt to the press is 10 s plus an exponential part
# with this mean (seconds), twice as long from sleep; a press after the window is no answer.
ANSWER_AWAKE = 0.9
ANSWER_ASLEEP = 0.3
ANSWER_DELAY_MEAN_S = 30.0
ANSWER_DELAY_MIN_S = 10.0
# The sensitivity line: the pooled figures again at these (a less able or less willing
# resident).
SENSITIVITY_AWAKE = 0.7
SENSITIVITY_ASLEEP = 0.1


@dataclass(frozen=True)
class AnswerModel:
    awake: float = ANSWER_AWAKE
    asleep: float = ANSWER_ASLEEP
    delay_mean_s: float = ANSWER_DELAY_MEAN_S
    seed: int = 0

    def describe(self) -> str:
        return (f"answers a check awake at home p={self.awake}, asleep p={self.asleep}, out "
                f"never, fallen never; delay {ANSWER_DELAY_MIN_S:g} s + exp(mean "
                f"{self.delay_mean_s:g} s), x2 from sleep; a repeated prompt decided "
                f"anew; seed {self.seed}")


class Resident:
    """The resident of a recording answering the rules' checks, from its ``resident_states``
    (ground truth of the generator; derived for PlaceLab). Each answer is decided by a random
    stream of its own (seed, home, check), so the order of checks does not change it. The
    check is named by its kind and the moment it was asked, not by its id: an id carries the
    number of its cause event, which every earlier answer (a stored press) shifts, so two
    settings compared on one home would otherwise draw every later answer anew (common random
    numbers: a difference between runs is the settings', not the draw's)."""

    def __init__(self, rec: Recording, model: AnswerModel, home: str) -> None:
        spans = rec.about.get("resident_states") or []
        self.starts = [float(a) for a, _b, _s in spans]
        self.spans = [(float(a), float(b), str(st)) for a, b, st in spans]
        self.model = model
        self.home = home
        self.asked: Counter[str] = Counter()  # state -> checks asked in it
        self._seq = 1 << 30  # the call point's answers, above the frames it sends itself

    def state_at(self, t: float) -> str:
        i = bisect.bisect_right(self.starts, t) - 1
        if i >= 0 and self.spans[i][0] <= t < self.spans[i][1]:
            return self.spans[i][2]
        return "awake"  # no ground truth here: taken as up at home

    def respond(self, check: LocalCheck) -> list[runner.Delivery]:
        """Her answer to ``check`` (none: she does not answer); the replay withdraws it if the
        check ends another way first (she walked into another room: the prompt stopped)."""
        state = self.state_at(check.at)
        if check.attempt == 1:
            self.asked[state] += 1
        p = {"awake": self.model.awake, "asleep": self.model.asleep}.get(state, 0.0)
        # A repeated prompt is decided on its own (she did not hear the first: nothing makes
        # her miss the second as well, beyond the same p); the first keeps its stream.
        again = f":{check.attempt}" if check.attempt > 1 else ""
        rng = random.Random(f"{self.model.seed}:{self.home}:{check.kind}:{check.asked_at:.3f}"
                            f"{again}")
        if rng.random() >= p:
            return []
        delay = ANSWER_DELAY_MIN_S + rng.expovariate(1.0 / self.model.delay_mean_s)
        if state == "asleep":
            delay *= 2.0
        t = check.at + delay
        if t >= check.answer_by:
            return []
        self._seq += 1
        device = check.device_ids[0]
        return [runner.Delivery(t, device, self._seq, {"type": "event", "event": "button",
                                                       "uptime": int(t), "time": int(t)})]


def with_call_point(rec: Recording) -> Recording:
    """The recording's home with a call point for its resident: a device that can prompt her.
    Its room is not said: the recordings have no walk to a fixed call point, so she answers
    where she is (as on a worn button), and the rules do not move her."""
    resident_id = rec.devices[0].resident_id if rec.devices else "resident-1"
    device = DeviceSpec(CALL_POINT_ID, "call_point", None, resident_id, "observations")
    return dataclasses.replace(rec, devices=[*rec.devices, device])


@dataclass
class HomeJob:
    source: str  # placelab | synthetic
    name: str
    kind: str  # how to make the recording: "synthetic" or "placelab"
    arg: str  # profile name or subject directory
    seed: int = 0
    days: int = 30
    falls_per_category: int = DEFAULT_FALLS_PER_CATEGORY
    settings: tuple[str, ...] = ()
    save_dir: str | None = None  # write the home's recording here (for trygg hub replay)
    prompting: bool = True  # the home has a call point that prompts (with_call_point)
    answers: AnswerModel = field(default_factory=AnswerModel)


@dataclass
class FallOutcome:
    t: float
    category: str
    room: str | None
    kind: str | None  # the first care alarm after the fall, None: none within the horizon
    delay_s: float | None
    answered: int = 0  # checks answered after the fall (a fallen resident answers none)


@dataclass
class HomeResult:
    source: str
    name: str
    resident_days: float
    false_alarms: dict[str, int]
    local_checks: int
    other_actions: dict[str, int]
    falls: list[FallOutcome] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    derived: str = ""
    motion_events: int = 0  # motion events the motion units sent (the hold-off's product)
    motion_device_hours: float = 0.0
    checks_by_state: dict[str, int] = field(default_factory=dict)
    check_outcomes: dict[str, int] = field(default_factory=dict)  # LocalCheckEnded.outcome
    reasks: int = 0  # prompts repeated after no answer (within the checks counted)


def _recording(job: HomeJob) -> Recording:
    if job.kind == "synthetic":
        from ..sim import resident

        rec = resident.generate(job.arg, job.seed, job.days)
    else:
        from . import placelab

        rec = placelab.load_subject(Path(job.arg), days=job.days)
    return with_call_point(rec) if job.prompting else rec


def run_home(job: HomeJob) -> HomeResult:
    logging.getLogger("trygg.hub.alarms").setLevel(logging.ERROR)
    began = time.perf_counter()
    rec = _recording(job)
    return asyncio.run(_home(job, rec, began))


def _save(job: HomeJob, rec: Recording, base: runner.Replayer) -> None:
    """The home's recording with her answers to the checks as presses of the call point, so
    that ``trygg hub replay`` with the same ``--set`` settings gives this run's alarms."""
    from trygg.hub.replay import recording

    presses = [Observation(e.received_at, CALL_POINT_ID, "button")
               for e in base.store.events(device_id=CALL_POINT_ID) if e.name == "button"]
    if presses:
        about = dict(rec.about, answers="presses of the call point: the resident's answers to "
                     "the rules' checks, as trygg bench care's model made them with settings "
                     f"{list(job.settings)}")
        rec = dataclasses.replace(rec, observations=sorted(
            [*rec.observations, *presses], key=lambda o: (o.t, o.device_id)), about=about)
    recording.save(rec, Path(job.save_dir or ".") / f"{job.name}.jsonl")


async def _home(job: HomeJob, rec: Recording, began: float) -> HomeResult:
    config = rec.config(job.settings)
    base = runner.Replayer(config, rec.devices, rec.start)
    person = Resident(rec, job.answers, job.name)
    base.respond = person.respond
    await base.start()
    items = runner.timeline(rec)
    motion_units = {d.device_id for d in rec.devices if d.role == "motion"}
    motion_events = sum(1 for x in items if isinstance(x, runner.Delivery)
                        and x.device_id in motion_units and x.msg.get("event") == "motion")
    chosen = falls.select(falls.moments(rec), job.falls_per_category)
    outcomes: list[FallOutcome] = []
    i = 0
    for m in chosen:
        j = i
        while j < len(items) and items[j].t <= m.t:
            j += 1
        await base.feed(items[i:j], m.t)
        i = j
        outcomes.append(await _fall(base, rec, m))
    await base.feed(items[i:], rec.end)
    if job.save_dir is not None:
        _save(job, rec, base)
    result = base.result(rec.start, rec.end)
    residents = len(config.residents)
    false_alarms = Counter(a.kind for a in result.alarms if a.kind in CARE_KINDS)
    others = Counter(a.type for a in result.other_actions)
    reasks = sum(1 for a in result.other_actions if is_reask(a.type, a.fields))
    checks = sum(n for t, n in others.items() if is_local_check(t)) - reasks
    return HomeResult(job.source, job.name, residents * (rec.end - rec.start) / 86400.0,
                      dict(false_alarms), checks, dict(others), outcomes, result.frames,
                      time.perf_counter() - began, rec.derived, motion_events,
                      len(motion_units) * (rec.end - rec.start) / 3600.0,
                      dict(person.asked), dict(Counter(
                          str(a.fields.get("outcome")) for a in result.other_actions
                          if a.type == LocalCheckEnded.__name__)), reasks)


async def _fall(base: runner.Replayer, rec: Recording, m: falls.Moment) -> FallOutcome:
    twin = base.fork()
    twin.respond = None  # a fallen resident never answers a check ...
    twin._answers.clear()  # ... nor one she was asked just before
    injected = falls.cut(rec, m.t)
    after = runner.timeline(injected, after=m.t)
    first: list[tuple[str, float]] = []

    def care_alarm(report: Any) -> bool:
        if report.kind in CARE_KINDS and report.raised_at >= m.t:
            first.append((report.kind, report.raised_at))
            return True
        return False

    await twin.feed(after, injected.end, stop=care_alarm)
    twin.store.close()
    answered = sum(1 for a in twin.other_actions if a.at > m.t and a.fields.get("outcome")
                   == rules_model.CHECK_ANSWERED)
    if not first:
        return FallOutcome(m.t, m.category, m.room, None, None, answered)
    kind, at = first[0]
    return FallOutcome(m.t, m.category, m.room, kind, at - m.t, answered)


# --- the homes ---------------------------------------------------------------------------------


def datasets_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    repo = Path(__file__).resolve().parent.parent.parent
    return repo.parent / "shared" / "datasets"


def jobs(profiles: int, days: int, seed: int, falls_per_category: int, datasets: Path,
         settings: Sequence[str], placelab_days: int | None,
         save_dir: str | None = None, prompting: bool = True,
         answers: AnswerModel | None = None) -> tuple[list[HomeJob], str]:
    """The homes to measure, and a note on the public recordings (present or why not)."""
    from ..sim import resident
    from . import placelab

    out: list[HomeJob] = []
    subjects, note = placelab.subjects(datasets / "placelab")
    for path in subjects:
        out.append(HomeJob("placelab", f"placelab-{path.name}", "placelab", str(path), 0,
                           placelab_days or 0, falls_per_category, tuple(settings), save_dir,
                           prompting, answers or AnswerModel(seed=seed)))
    names = list(resident.PROFILES)
    for k in range(profiles):
        name = names[k % len(names)]
        s = seed + k // len(names)
        out.append(HomeJob("synthetic", f"{name}-s{s}", "synthetic", name, s, days,
                           falls_per_category, tuple(settings), save_dir, prompting,
                           answers or AnswerModel(seed=seed)))
    return out, note


def measure(home_jobs: list[HomeJob], workers: int) -> list[HomeResult]:
    if workers <= 1 or len(home_jobs) <= 1:
        return [run_home(j) for j in home_jobs]
    # Largest first, so the two cores finish together.
    order = sorted(range(len(home_jobs)), key=lambda i: -home_jobs[i].days or 0)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(order, pool.map(run_home, [home_jobs[i] for i in order]),
                        strict=True))
    return [done[i] for i in range(len(home_jobs))]


# --- figures -----------------------------------------------------------------------------------


def _per_30(n: float, days: float) -> float:
    return n * 30.0 / days if days > 0 else 0.0


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; ``math.inf`` stands for a fall never alarmed."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, math.ceil(q / 100.0 * len(s)) - 1)
    return s[k]


def _minutes(v: float) -> float | None:
    if math.isnan(v):
        return None
    return None if math.isinf(v) else round(v / 60.0, 1)


def _fall_figures(outcomes: list[FallOutcome]) -> dict[str, Any]:
    delays = [o.delay_s if o.delay_s is not None else math.inf for o in outcomes]
    n = len(outcomes)
    return {
        "n": n,
        "within_30min": round(sum(d <= WITHIN_S for d in delays) / n, 4) if n else None,
        "within_24h": round(sum(not math.isinf(d) for d in delays) / n, 4) if n else None,
        "p50_min": _minutes(_percentile(delays, 50)),
        "p90_min": _minutes(_percentile(delays, 90)),
        "max_min": _minutes(max(delays)) if n else None,
        "never": sum(math.isinf(d) for d in delays),
        "first_alarm": dict(Counter(o.kind or "none" for o in outcomes)),
    }


def _home_figures(r: HomeResult) -> dict[str, Any]:
    """One home's checks per resident-day (a resident asked more than a few times a day is
    burdened: the prompts count the repeats) and its falls."""
    days = r.resident_days or 1.0
    f = _fall_figures(r.falls)
    return {"checks_per_day": round(r.local_checks / days, 2),
            "prompts_per_day": round((r.local_checks + r.reasks) / days, 2),
            "falls": f["n"], "falls_within_30min": f["within_30min"],
            "falls_p90_min": f["p90_min"]}


def summarise(results: list[HomeResult]) -> dict[str, Any]:
    by_source: dict[str, list[HomeResult]] = defaultdict(list)
    for r in results:
        by_source[r.source].append(r)
    groups = dict(by_source)
    groups["pooled"] = results

    def false_figures(rs: list[HomeResult]) -> dict[str, Any]:
        days = sum(r.resident_days for r in rs)
        total = Counter[str]()
        for r in rs:
            total.update(r.false_alarms)
        unit_hours = sum(r.motion_device_hours for r in rs)
        return {"homes": len(rs), "resident_days": round(days, 1),
                "motion_events_per_unit_hour": round(
                    sum(r.motion_events for r in rs) / unit_hours, 2) if unit_hours else None,
                "per_resident_30d": round(_per_30(sum(total.values()), days), 2),
                "by_kind": {k: round(_per_30(total.get(k, 0), days), 2) for k in CARE_KINDS},
                "count": sum(total.values()),
                "local_checks_per_resident_30d": round(
                    _per_30(sum(r.local_checks for r in rs), days), 2),
                "reasks_per_resident_30d": round(_per_30(sum(r.reasks for r in rs), days), 2),
                "checks_by_state": dict(sum((Counter(r.checks_by_state) for r in rs),
                                            Counter[str]())),
                "check_outcomes": dict(sum((Counter(r.check_outcomes) for r in rs),
                                           Counter[str]()))}

    all_falls = [o for r in results for o in r.falls]
    categories = sorted({o.category for o in all_falls})
    return {
        "false_alarms": {name: false_figures(rs) for name, rs in groups.items()},
        "falls": {
            "all": _fall_figures(all_falls),
            "by_source": {name: _fall_figures([o for r in rs for o in r.falls])
                          for name, rs in by_source.items()},
            "by_category": {c: _fall_figures([o for o in all_falls if o.category == c])
                            for c in categories},
        },
    }


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "never" if unit == "min" else "-"
    if isinstance(v, float) and unit == "%":
        return f"{100 * v:.1f} %"
    return f"{v}{' ' + unit if unit and unit != '%' else ''}"


def report(summary: dict[str, Any], results: list[HomeResult], note: str) -> None:
    print("Care quality: care alarms on normal life, and injected falls "
          "(trygg.hub.replay, the rules of trygg hub run)")
    print(f"Public recordings: {note}")
    derived = {r.derived for r in results if r.source == "placelab" and r.derived}
    for d in sorted(derived):
        print(f"  derived: {d}")
    if derived:
        print("  her state when asked (awake, asleep, out) is derived as well: asleep in the "
              "derived bed stays, out from a \"Going out\" door close to the next object use, "
              "awake at home otherwise (unannotated stretches included)")
    print()
    print("False care alarms per resident-30-days (nothing happened to these residents)")
    header = f"  {'source':<10} {'homes':>5} {'res-days':>8} {'total':>6} " + " ".join(
        f"{k:>13}" for k in CARE_KINDS) + f" {'local checks':>12}"
    print(header)
    for name, f in summary["false_alarms"].items():
        print(f"  {name:<10} {f['homes']:>5} {f['resident_days']:>8} "
              f"{f['per_resident_30d']:>6} "
              + " ".join(f"{f['by_kind'][k]:>13}" for k in CARE_KINDS)
              + f" {f['local_checks_per_resident_30d']:>12}")
    print("  local checks: rule actions asking the resident first (not alarms); false = care "
          "alarms that reached the centre")
    for name, f in summary["false_alarms"].items():
        asked, outcomes = f["checks_by_state"], f["check_outcomes"]
        if asked:
            print(f"    {name:<10} {sum(asked.values())} checks; she was " + ", ".join(
                f"{st} {asked[st]}" for st in sorted(asked)) + "; " + ", ".join(
                f"{k} {outcomes.get(k, 0)}" for k in CHECK_OUTCOMES)
                + f"; asked again {round(f['reasks_per_resident_30d'], 2)} per resident-30d")
    print("  motion events a motion unit sends per hour (the firmware's hold-off at work): "
          + ", ".join(f"{name} {f['motion_events_per_unit_hour']}"
                      for name, f in summary["false_alarms"].items()))
    print()
    print("Per home: false care alarms (count), checks per resident-day (prompts with the "
          "repeats), falls alarmed within 30 min and their p90, run time")
    for r in results:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.false_alarms.items())) or "none"
        h = _home_figures(r)
        print(f"  {r.name:<28} {r.resident_days:5.1f} days  {kinds:<32} "
              f"checks/day {h['checks_per_day']:4.2f} ({h['prompts_per_day']:4.2f})  "
              f"{h['falls']:3d} falls {_fmt(h['falls_within_30min'], '%'):>7} "
              f"p90 {_fmt(h['falls_p90_min'], 'min'):>9}  {r.seconds:5.1f} s")
    print()
    fa = summary["falls"]
    print("Injected falls: the first care alarm at the centre (after an unanswered check), "
          "delay from the fall")
    print(f"  {'moment':<22} {'n':>4} {'<=30 min':>9} {'<=24 h':>8} {'p50 min':>8} "
          f"{'p90 min':>8} {'max min':>8}  first alarm")
    rows = [*fa["by_category"].items(), *[(f"[{k}]", v) for k, v in fa["by_source"].items()],
            ("ALL", fa["all"])]
    for name, f in rows:
        if not f["n"]:
            continue
        first = ", ".join(f"{k} {n}" for k, n in sorted(f["first_alarm"].items()))
        print(f"  {name:<22} {f['n']:>4} {_fmt(f['within_30min'], '%'):>9} "
              f"{_fmt(f['within_24h'], '%'):>8} {_fmt(f['p50_min'], 'min'):>8} "
              f"{_fmt(f['p90_min'], 'min'):>8} {_fmt(f['max_min'], 'min'):>8}  {first}")
    print()


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    pooled = summary["false_alarms"]["pooled"]
    f = summary["falls"]["all"]
    return {"false_per_resident_30d": pooled["per_resident_30d"],
            "checks_per_resident_30d": pooled["local_checks_per_resident_30d"],
            "falls_within_30min": f["within_30min"], "p90_min": f["p90_min"]}


def _headline_text(h: dict[str, Any]) -> str:
    return (f"false centre alarms {h['false_per_resident_30d']} per resident-30d, "
            f"checks {h['checks_per_resident_30d']}, falls within 30 min "
            f"{_fmt(h['falls_within_30min'], '%')}, p90 {_fmt(h['p90_min'], 'min')}")


def run(profiles: int = 5, days: int = 30, seed: int = 0,
        falls_per_category: int = DEFAULT_FALLS_PER_CATEGORY, datasets: str | None = None,
        settings: Sequence[str] = (), as_json: bool = False, workers: int | None = None,
        placelab_days: int | None = None, save_dir: str | None = None,
        answer_awake: float = ANSWER_AWAKE, answer_asleep: float = ANSWER_ASLEEP,
        compare: bool = True) -> int:
    """Measure the homes with a call point that prompts (answered as ``answer_*`` say), and
    with ``compare`` the same homes at the sensitivity's lower answer rates and without a
    prompting device (the rules as they are in such a home)."""
    began = time.perf_counter()
    directory = datasets_dir(datasets)
    model = AnswerModel(answer_awake, answer_asleep, seed=seed)
    try:
        if save_dir is not None:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
        home_jobs, note = jobs(profiles, days, seed, falls_per_category, directory, settings,
                               placelab_days, save_dir, True, model)
        if home_jobs:
            _recording(home_jobs[0]).config(settings)  # a bad --set fails before the work
    except (ConfigError, RecordingError, OSError) as exc:
        print(f"trygg bench care: {exc}", file=sys.stderr)
        return 2
    if not home_jobs:
        print("trygg bench care: nothing to measure (no profiles, no public recordings)",
              file=sys.stderr)
        return 2
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    low = AnswerModel(min(answer_awake, SENSITIVITY_AWAKE), min(answer_asleep,
                                                                 SENSITIVITY_ASLEEP), seed=seed)
    variants = [dataclasses.replace(j, answers=low, save_dir=None) for j in home_jobs] + [
        dataclasses.replace(j, prompting=False, save_dir=None) for j in home_jobs] \
        if compare else []
    try:
        everything = measure(home_jobs + variants, n_workers)
    except (ConfigError, RecordingError) as exc:
        print(f"trygg bench care: {exc}", file=sys.stderr)
        return 2
    n = len(home_jobs)
    results = everything[:n]
    summary = summarise(results)
    comparison: dict[str, Any] = {}
    if compare:
        comparison = {
            "sensitivity": {"answer_awake": low.awake, "answer_asleep": low.asleep,
                            **_headline(summarise(everything[n:2 * n]))},
            "without_prompting": _headline(summarise(everything[2 * n:])),
        }
    pooled = summary["false_alarms"]["pooled"]
    all_falls = summary["falls"]["all"]
    goal = {
        "false_per_resident_30d_le_1": pooled["per_resident_30d"] <= 1.0,
        "falls_within_24h_100pct": all_falls["n"] > 0 and all_falls["within_24h"] == 1.0,
        "falls_within_30min_ge_95pct": all_falls["n"] > 0 and all_falls["within_30min"] >= 0.95,
        "p90_le_30min": all_falls["p90_min"] is not None and all_falls["p90_min"] <= 30.0,
    }
    line = {"bench": "care", "version": JSON_VERSION, "care_kinds": list(CARE_KINDS),
            "placelab": note, "settings": list(settings), "seed": seed,
            "synthetic_profiles": profiles, "synthetic_days": days,
            "falls_per_category": falls_per_category,
            "prompting_device": "call_point",
            "answer_model": {"awake": model.awake, "asleep": model.asleep, "out": 0.0,
                             "fallen": 0.0, "delay_min_s": ANSWER_DELAY_MIN_S,
                             "delay_mean_s": model.delay_mean_s, "seed": seed},
            **summary, **comparison,
            "homes": [{"name": r.name, "source": r.source,
                       "resident_days": round(r.resident_days, 2),
                       "false_alarms": r.false_alarms, "falls": len(r.falls),
                       "other_actions": r.other_actions,
                       **{k: v for k, v in _home_figures(r).items() if k != "falls"}}
                      for r in results],
            "goal": goal, "seconds": round(time.perf_counter() - began, 1)}
    if not as_json:
        print("Every home has a call point that prompts (the benchmark adds one to each home's "
              "devices, room not said: she answers where she is); the resident "
              + model.describe())
        report(summary, results, note)
        if compare:
            sens, bare = comparison["sensitivity"], comparison["without_prompting"]
            print(f"Sensitivity (answers awake p={sens['answer_awake']}, asleep "
                  f"p={sens['answer_asleep']}): " + _headline_text(sens))
            print("Without a prompting device (the same homes, no call point: the rules as "
                  "today): " + _headline_text(bare))
            print()
        print("Goal (pooled, defaults, with the call point): " + ", ".join(
            f"{k} {'yes' if v else 'NO'}" for k, v in goal.items()))
        print(f"({line['seconds']} s, {n_workers} worker(s))")
    print(json.dumps(line, separators=(",", ":")))
    return 0
