"""Fall injection: the cut really removes everything the resident does after the fall while the
devices keep heartbeating, and continuing a copy of the hub at the fall (what trygg bench care
does) gives exactly what a replay of the cut recording from its start gives."""

from __future__ import annotations

import asyncio
import logging

import pytest

from trygg.hub.replay import falls, firmware_model, runner
from trygg.hub.replay.recording import Recording
from trygg.tools.sim import resident as sim_resident


@pytest.fixture(scope="module")
def home() -> Recording:
    logging.getLogger("trygg.hub.alarms").setLevel(logging.ERROR)
    return sim_resident.generate("restless_nights", seed=3, days=3)


def test_cut_leaves_no_sign_of_life_after_the_fall_but_heartbeats_go_on(
        home: Recording) -> None:
    moment = next(m for m in falls.moments(home) if m.category == "bathroom")
    cut = falls.cut(home, moment.t)
    assert cut.end == moment.t + falls.HORIZON_S
    assert max(o.t for o in cut.observations) <= moment.t
    assert any(o.t > moment.t for o in home.observations)  # there was life after it
    after = runner.timeline(cut, after=moment.t)
    # No motion, bed, door: only the devices' heartbeats -- and, within one hold-off of the
    # fall, a motion unit's count of the movement it saw before it (firmware/roles/motion.py).
    holdoff = firmware_model.firmware_defaults("motion")["motion_holdoff_s"]
    events = [d for d in after if isinstance(d, runner.Delivery) and d.msg["type"] == "event"]
    assert all(d.msg["event"] == "motion" and d.t <= moment.t + holdoff + 1 for d in events)
    kinds = {d.msg["type"] for d in after if isinstance(d, runner.Delivery)
             and d.t > moment.t + holdoff + 1}
    assert kinds == {"heartbeat"}
    assert all(d.msg.get("triggers", 0) == 0 for d in after
               if isinstance(d, runner.Delivery) and d.t > moment.t + 600)
    devices = {d.device_id for d in after if isinstance(d, runner.Delivery)}
    assert devices == {d.device_id for d in home.devices}
    # Every device goes on for the whole horizon, also past the recording's own end.
    last = max(d.t for d in after)
    assert last > cut.end - 600


def test_cut_of_a_recording_of_sent_events_keeps_and_extends_the_heartbeats(
        home: Recording) -> None:
    from trygg.hub.replay.recording import SentMessage

    sent = [SentMessage(d.t, d.device_id, d.seq, d.msg) for d in runner.timeline(home)
            if isinstance(d, runner.Delivery)]
    devices = [type(d)(d.device_id, d.role, d.room, d.resident_id, "events", d.zone)
               for d in home.devices]
    as_sent = Recording(home.start, home.end, home.hub_toml, devices, [], sent)
    fall_at = home.end - 3 * 3600
    cut = falls.cut(as_sent, fall_at)
    later = [m for m in cut.messages if m.t > fall_at]
    assert later
    assert {m.msg["type"] for m in later} == {"heartbeat"}
    assert max(m.t for m in later) > home.end + 20 * 3600
    assert all(m.msg.get("triggers", 0) == 0 for m in later)
    seqs = [(m.device_id, m.seq) for m in cut.messages]
    assert len(seqs) == len(set(seqs))


def test_select_takes_an_even_spread_of_each_category() -> None:
    ms = [falls.Moment(float(i), "a" if i % 2 else "b", None) for i in range(100)]
    chosen = falls.select(ms, 4)
    assert sorted({m.category for m in chosen}) == ["a", "b"]
    a = [m.t for m in chosen if m.category == "a"]
    assert len(a) == 4
    assert a[0] < 30
    assert a[-1] > 70
    assert falls.select(ms, 0) == []


def test_continuing_a_copy_of_the_hub_at_the_fall_equals_replaying_the_cut_recording(
        home: Recording) -> None:
    chosen = falls.select(falls.moments(home), 1)
    assert len({m.category for m in chosen}) >= 6

    def summary(result: runner.ReplayResult) -> list[tuple[object, ...]]:
        return [(a.alarm_id, a.kind, a.raised_at, a.state, a.resolved_at, a.description,
                 [c.event_id for c in a.causes]) for a in result.alarms]

    async def main() -> list[tuple[str, list[tuple[object, ...]], list[tuple[object, ...]]]]:
        base = runner.Replayer(home.config(), home.devices, home.start)
        await base.start()
        items = runner.timeline(home)
        out = []
        i = 0
        for m in chosen:
            j = i
            while j < len(items) and items[j].t <= m.t:
                j += 1
            await base.feed(items[i:j], m.t)
            i = j
            twin = base.fork()
            cut = falls.cut(home, m.t)
            await twin.feed(runner.timeline(cut, after=m.t), cut.end)
            forked = twin.result(cut.start, cut.end)
            whole = await runner.replay_async(cut)
            assert (forked.frames, forked.ticks) == (whole.frames, whole.ticks)
            out.append((m.category, summary(forked), summary(whole)))
        # The copies left the original alone: it goes on as if nothing had happened.
        await base.feed(items[i:], home.end)
        alone = await runner.replay_async(home)
        assert summary(base.result(home.start, home.end)) == summary(alone)
        return out

    results = asyncio.run(main())
    for category, forked, whole in results:
        assert forked == whole, category
    assert any(forked for _, forked, _ in results)  # some falls were alarmed: not vacuous
