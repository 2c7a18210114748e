"""The synthetic residents: seeded and deterministic, valid recordings, and profiles that differ
the way they are meant to (rise times, night visits, baths, outings, stillness, visitors)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import statistics
import zoneinfo
from collections import Counter

import pytest

from trygg.hub.replay import recording
from trygg.hub.replay.recording import Recording
from trygg.tools.sim import resident as sim

DAYS = 10
ZONE = zoneinfo.ZoneInfo(sim.ZONE)


@pytest.fixture(scope="module")
def homes() -> dict[str, Recording]:
    return {name: sim.generate(name, seed=1, days=DAYS) for name in sim.PROFILES}


def test_same_seed_same_recording_other_seed_other_recording() -> None:
    def text(rec: Recording) -> str:
        out = io.StringIO()
        recording.write(rec, out)
        return out.getvalue()

    a = text(sim.generate("early_napper", seed=7, days=3))
    assert a == text(sim.generate("early_napper", seed=7, days=3))
    assert a != text(sim.generate("early_napper", seed=8, days=3))


def test_at_least_five_profiles_each_a_valid_recording_with_fall_moments(
        homes: dict[str, Recording]) -> None:
    assert len(sim.PROFILES) >= 5
    for name, rec in homes.items():
        again = recording.loads("\n".join(recording.records(rec)), name)  # parses as hostile
        assert again.observations == sorted(rec.observations, key=lambda o: o.t)
        assert rec.end - rec.start == DAYS * 86400
        categories = Counter(m[1] for m in rec.about["fall_moments"])
        for category in ("night_bed_exit", "bathroom", "morning_rise", "daytime_kitchen",
                         "daytime_living_room", "after_door_close", "after_return"):
            if name != "tv_evenings" or category != "night_bed_exit":
                assert categories[category] > 0, (name, category)


def _local_hours(rec: Recording, device: str, sensor: str, value: bool | None) -> list[float]:
    out = []
    for o in rec.observations:
        if o.device_id == device and o.sensor == sensor and o.value == value:
            t = dt.datetime.fromtimestamp(o.t, ZONE)
            out.append(t.hour + t.minute / 60)
    return out


def _rises(rec: Recording) -> list[float]:
    """Local hour of the last bed exit of each morning (between 04:00 and 13:00)."""
    by_day: dict[dt.date, float] = {}
    bed = sim.DEVICES[0][0]
    for o in rec.observations:
        if o.device_id == bed and o.value is False:
            t = dt.datetime.fromtimestamp(o.t, ZONE)
            if 4 <= t.hour < 13:
                by_day[t.date()] = t.hour + t.minute / 60
    return list(by_day.values())


def _night_exits(rec: Recording) -> float:
    """Bed exits a night between 21:00 and 08:00 with a return to bed within 40 minutes."""
    bed = sim.DEVICES[0][0]
    edges = [(o.t, o.value) for o in rec.observations if o.device_id == bed]
    n = 0
    for (t_out, v_out), (t_in, v_in) in itertools.pairwise(edges):
        hour = dt.datetime.fromtimestamp(t_out, ZONE).hour
        if v_out is False and v_in is True and t_in - t_out < 2400 and (hour >= 21 or hour < 8):
            n += 1
    return n / DAYS


def _longest_bathroom_stays_min(rec: Recording) -> float:
    """The longest stretches of bathroom triggers (gaps under 20 min), in minutes."""
    bath = sim._PIR_OF[sim.BATHROOM]
    times = [o.t for o in rec.observations if o.device_id == bath]
    longest, begin = 0.0, times[0]
    for a, b in itertools.pairwise(times):
        if b - a > 1200:
            longest = max(longest, a - begin)
            begin = b
    return longest / 60


def _hours_out(rec: Recording) -> float:
    """Hours between a door close and the next opening with no motion in the flat between."""
    import bisect

    hall = sim._PIR_OF[sim.HALL]
    doors = [(o.t, o.value) for o in rec.observations if o.sensor == "door"]
    pirs = [o.t for o in rec.observations if o.sensor == "pir"]
    out = 0.0
    for (closed, v0), (opened, v1) in itertools.pairwise(doors):
        if v0 is False and v1 is True and opened - closed > 600:
            i = bisect.bisect_right(pirs, closed + 30)
            if i >= len(pirs) or pirs[i] >= opened - 5:
                out += opened - closed
    del hall
    return out / 3600


def _evening_living_room(rec: Recording) -> tuple[float, float]:
    """Living-room PIR triggers per hour from 19:00 to 22:00 (the median evening: some have
    visitors), and the longest quiet stretch there (minutes) between two of its triggers with
    none elsewhere (the person stayed in the room)."""
    living = sim._PIR_OF[sim.LIVING]
    pirs = [o for o in rec.observations if o.sensor == "pir"]
    evening = [o for o in pirs if 19 <= dt.datetime.fromtimestamp(o.t, ZONE).hour < 22]
    per_day = Counter(dt.datetime.fromtimestamp(o.t, ZONE).date() for o in evening
                      if o.device_id == living)
    rate = statistics.median([per_day.get(d, 0) / 3 for d in
                              {dt.datetime.fromtimestamp(o.t, ZONE).date() for o in evening}])
    longest = 0.0
    for a, b in itertools.pairwise(evening):
        if a.device_id == living == b.device_id:
            longest = max(longest, b.t - a.t)
    return rate, longest / 60


def test_profiles_differ_as_intended(homes: dict[str, Recording]) -> None:
    # In what the sensors saw ...
    rise = {n: statistics.median(_rises(r)) for n, r in homes.items()}
    assert rise["early_napper"] < 7 < rise["tv_evenings"] < rise["late_riser"]
    assert rise["late_riser"] > 9.5  # after ten, more or less: the not-up trap
    nights = {n: _night_exits(r) for n, r in homes.items()}
    assert nights["restless_nights"] > 2 > nights["early_napper"] > nights["late_riser"]
    out = {n: _hours_out(r) / DAYS for n, r in homes.items()}
    assert out["active_outgoer"] > 2 * out["tv_evenings"]
    assert out["active_outgoer"] > out["early_napper"]
    # A still person in front of the television triggers the PIR minutes apart, sometimes
    # not for half an hour.
    rate, longest = _evening_living_room(homes["tv_evenings"])
    assert rate < 20
    assert longest > 30
    # ... and in the generator's own account of what it made.
    s = {n: r.about["summary"] for n, r in homes.items()}
    assert s["late_riser"]["baths"] >= 3
    assert s["late_riser"]["bath_minutes_max"] > 60
    assert s["restless_nights"]["night_toilet_visits"] > 2 * DAYS
    assert s["late_riser"]["night_toilet_visits"] < DAYS
    assert s["early_napper"]["naps_in_bed"] >= DAYS // 3
    assert s["restless_nights"]["dozes"] >= DAYS // 3
    assert s["early_napper"]["visits"] >= DAYS  # home care every morning
    assert s["restless_nights"]["visits"] >= 2 * DAYS - 2  # morning and evening
    assert s["active_outgoer"]["hours_out"] > 3 * s["tv_evenings"]["hours_out"]
    assert s["tv_evenings"]["tv_hours"] > 5 * DAYS


def test_sleep_triggers_the_bedroom_pir_only_on_turns() -> None:
    rec = sim.generate("tv_evenings", seed=2, days=DAYS)
    bed = sim.DEVICES[0][0]
    bedroom = sim._PIR_OF[sim.BEDROOM]
    edges = sorted((o.t, o.value) for o in rec.observations if o.device_id == bed)
    asleep = [(a, b) for (a, va), (b, _) in itertools.pairwise(edges)
              if va and b - a > 4 * 3600]
    assert asleep
    hours = sum(b - a for a, b in asleep) / 3600
    seen = sum(1 for o in rec.observations if o.device_id == bedroom
               and any(a + 120 < o.t < b - 120 for a, b in asleep))
    assert seen / hours < 2  # a few turns a night, not a waking person's triggers


def test_visitors_and_a_second_person_appear_and_no_fall_moment_is_while_they_are_there(
        ) -> None:
    rec = sim.generate("active_outgoer", seed=4, days=30)
    # The partner staying over walks about at night while the resident sleeps: motion in
    # rooms other than the bedroom between midnight and five on some night.
    bed_room = sim._PIR_OF[sim.BEDROOM]
    night_elsewhere = [o for o in rec.observations if o.sensor == "pir"
                       and o.device_id != bed_room
                       and dt.datetime.fromtimestamp(o.t, ZONE).hour < 5]
    assert night_elsewhere
    care = sim.generate("early_napper", seed=4, days=5)
    mornings = [h for h in _local_hours(care, sim._PIR_OF[sim.HALL], "door", True)
                if 8 <= h < 10]
    assert len(mornings) >= 5  # the home-care visit every morning (in and out)
