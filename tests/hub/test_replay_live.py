"""Replay equals live processing: the frames of a recorded night and morning (ending in a fall),
sealed as the devices seal them, sent through a real mosquitto to a running ``HubService`` --
verified, stored, acked, fed to the rules, alarms forwarded, acknowledged by the centre, one
closed by a person -- give the same alarms, ids, times, causes, states and reports as
``trygg hub replay`` on the same recording.

The service's clock is the recording's: the test sets it before each frame and drives the
service's own ``tick()`` every ``tick_s`` of recorded time. The service's wall-clock ticker is
replaced by one that never ticks (it would tick at whatever recorded instant the test happened
to be at); everything else is the service as ``trygg hub run`` starts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from support.hub import WAIT_S, running_hub
from trygg.hub import config as hub_config
from trygg.hub.replay import falls, runner
from trygg.hub.replay.recording import DeviceSpec, HubRecord, Recording, SentMessage
from trygg.hub.store import Store
from trygg.tools.sim import resident as sim_resident
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto


def key_of(device_id: str) -> bytes:
    return bytes.fromhex(device_id) * 5 + bytes(2)


def recorded_morning() -> Recording:
    """A night and morning of a synthetic resident, cut by a fall at the morning's bathroom
    visit, as the frames its devices sent (input "events")."""
    home = sim_resident.generate("early_napper", seed=5, days=1)
    moment = next(m for m in falls.moments(home) if m.category == "bathroom"
                  and m.t > home.start + 5 * 3600)
    cut = falls.cut(home, moment.t, horizon_s=100 * 60)
    start = moment.t - 3 * 3600  # the last hours of the night and the morning
    sent = [SentMessage(d.t, d.device_id, d.seq, d.msg) for d in runner.timeline(cut)
            if isinstance(d, runner.Delivery) and d.t >= start]
    devices = [type(d)(d.device_id, d.role, d.room, d.resident_id, "events", zone=10 + i)
               for i, d in enumerate(cut.devices)]
    return Recording(start, cut.end, cut.hub_toml, devices, [], sent)


def alarm_rows(store: Store) -> list[tuple[Any, ...]]:
    return sorted((a["alarm_id"], a["kind"], a["raised_at"], a["state"], a["resolved_at"],
                   a["description"], tuple(a["cause_event_ids"])) for a in store.alarms())


class Centre:
    """The ARC forwarder's interface (as in tests/test_hub_service.py): records reports and
    acknowledges each raised alarm at once, as the replay's centre does."""

    def __init__(self) -> None:
        self.reports: list[Any] = []
        self.desk: Any = None

    async def submit(self, report: Any) -> None:
        self.reports.append(report)
        if report.event == "raised":
            self.desk.on_delivery(report.alarm_id, "raised", runner.CENTRE, True,
                                  "acknowledged")


async def test_replay_gives_the_alarms_the_running_hub_gives_on_the_same_frames(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    rec = recorded_morning()
    first = await runner.replay_async(rec)
    live = await live_equals_replay(tmp_path, mosquitto, rec)
    assert {a.alarm_id for a in live.alarms} >= {a.alarm_id for a in first.alarms}


async def test_replay_gives_the_local_checks_the_running_hub_gives(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The same morning in a home with a call point that prompts: the stillness before the
    fall is first a check. She answers it (a press 40 s after it began), the next stillness --
    the fall -- is a check nobody answers, and its alarm says so."""
    logging.getLogger("trygg.hub.alarms").setLevel(logging.ERROR)
    rec = recorded_morning()
    # Its heartbeats are not in the recording: a day's interval keeps it from being silent.
    call = DeviceSpec("ca0000000001", "call_point", "bathroom", "resident-1", "events",
                      zone=30, heartbeat_s=86400.0)
    rec = dataclasses.replace(rec, devices=[*rec.devices, call])
    first = await runner.replay_async(rec)
    asked = [a for a in first.other_actions if a.type == "LocalCheck"]
    assert asked, "the morning must hold a check for the comparison to mean much"
    press = asked[0].fields["at"] + 40.0
    rec.messages.append(SentMessage(press, call.device_id, 0, {
        "type": "event", "event": "button", "uptime": 100, "time": int(press)}))
    rec.messages.sort(key=lambda m: m.t)
    replayed = await live_equals_replay(tmp_path, mosquitto, rec)
    outcomes = [a.fields["outcome"] for a in replayed.other_actions
                if a.type == "LocalCheckEnded"]
    assert outcomes[0] == "answered"
    assert "no answer" in outcomes
    assert not any(a.kind == "assistance" for a in replayed.alarms)  # the press answered
    assert any("no answer" in a.description for a in replayed.alarms)


async def live_equals_replay(tmp_path: Path, mosquitto: Mosquitto,
                             rec: Recording) -> runner.ReplayResult:
    logging.getLogger("trygg.hub.alarms").setLevel(logging.ERROR)
    first = await runner.replay_async(rec)
    assert first.alarms, "the recording must raise something for the comparison to mean much"
    # A person closes the first alarm ten minutes later (on a tick: see the module docstring).
    tick_s = rec.config().tick_s
    closing = rec.start + tick_s * (int((first.alarms[0].raised_at + 600 - rec.start)
                                        // tick_s) + 1)
    rec.hub_events.append(HubRecord(closing, "resolve_alarm", "resident-1",
                                    {"alarm_id": first.alarms[0].alarm_id}))
    replayed = await runner.replay_async(rec)
    assert any(a.resolved_reason == "closed by a person" for a in replayed.alarms)

    data = {"hub": {"id": "hub-live", "database": str(tmp_path / "hub.db")},
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "reconnect_s": 0.2},
            "discovery": {"enabled": False},
            "residents": [{"id": "resident-1", "arc_account": "1001",
                           "timezone": sim_resident.ZONE}]}
    cfg = hub_config.parse(data, "live.toml")
    assert cfg.residents == rec.config().residents
    assert cfg.tick_s == tick_s
    with Store(cfg.database) as store:
        for d in rec.devices:
            store.add_device(d.device_id, key_of(d.device_id), d.role, d.room, d.resident_id,
                             d.zone, now=rec.start)
            if d.heartbeat_s is not None:
                store.set_device_heartbeat(d.device_id, d.heartbeat_s)
    now = [rec.start]
    centre = Centre()

    async def never() -> None:
        await asyncio.Event().wait()

    items = runner.timeline(rec)
    async with running_hub(cfg, arc=centre, clock=lambda: now[0]) as service:
        service._ticker = never  # type: ignore[method-assign]
        centre.desk = service.desk
        devices: dict[str, SimulatedDevice] = {}
        for d in rec.devices:
            # What the devices send is the recording's: a command the hub sends (the call
            # point's prompt) gets no result frame, which the recording does not hold.
            dev = SimulatedDevice(d.device_id, key_of(d.device_id), mosquitto.host,
                                  mosquitto.port, answer_commands=False)
            devices[d.device_id] = await dev.__aenter__()
        try:
            next_tick = rec.start + tick_s

            async def tick_to(t: float, inclusive: bool) -> None:
                nonlocal next_tick
                while next_tick < t or (inclusive and next_tick == t):
                    now[0] = next_tick
                    next_tick += tick_s
                    await service.tick()
                    await service.desk.wait_idle()

            for item in items:
                await tick_to(item.t, inclusive=False)
                now[0] = item.t
                if isinstance(item, runner.Delivery):
                    dev = devices[item.device_id]
                    seq, frame = dev.seal(item.msg, item.seq)
                    dev.outbox[seq] = frame  # what the device keeps until acked
                    await dev.publish_raw(frame)
                    async with asyncio.timeout(WAIT_S):
                        await dev.wait_acked({seq})
                        await service.ingest.idle.wait()
                else:
                    # As `trygg hub resolve` does: stored; the service's next tick applies it.
                    await service.db.run(lambda s, h=item: s.add_hub_event(
                        h.event, h.t, h.resident_id, detail=h.detail))
                await service.desk.wait_idle()
            await tick_to(rec.end, inclusive=True)
            assert service.ingest.counts["stored"] == len(rec.messages)
            assert service.ingest.counts["rejected"] == 0
        finally:
            for dev in devices.values():
                await dev.__aexit__(None, None, None)

    with Store(cfg.database) as store:
        live = alarm_rows(store)
    replay_rows = sorted((a.alarm_id, a.kind, a.raised_at, a.state, a.resolved_at,
                          a.description, tuple(c.event_id for c in a.causes))
                         for a in replayed.alarms)
    assert live == replay_rows
    assert [(r.alarm_id, r.event, r.kind, r.zone, r.room, r.description, r.raised_at)
            for r in centre.reports] == [
        (r.alarm_id, r.event, r.kind, r.zone, r.room, r.description, r.raised_at)
        for r in replayed.reports]
    return replayed
