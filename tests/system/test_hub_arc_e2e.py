"""The whole alarm path with real parts only: a simulated smoke device's signed frames over a
real mosquitto, the hub (verify, store, rules, alarm desk), its ARC forwarder, and pysiaalarm
as the alarm receiving centre (``ArcConsole``) on loopback.

What the centre must see is what README's operator table promises: FIRE as SIA FA with the
device's zone and room under the resident's account, and FH when the smoke clears. What the
hub must record is the alarm life cycle raised -> forwarded -> acknowledged -> resolved, and
an alarm stored while the centre was not answering must still arrive after a kill -9 of the
hub, once in substance (a repeat only under the same DC-09 sequence number, SIA DC-09
§5.5.1.5, so the centre can discard it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from support.arc import HUB, RESIDENT, RawReceiver, arc_table, receiver, silence
from support.hub import (
    HEARTBEAT,
    KEY_SMOKE,
    SMOKE,
    TRYGG,
    WAIT_S,
    alarms,
    eventually,
    hub_log,
    running_hub,
    start_hub,
    stop_hub,
    wait_until_acking,
    write_hub_toml,
)
from trygg.hub import config as hub_config
from trygg.hub.arc import dc09
from trygg.hub.store import Store
from trygg.tools.sim.arc_console import ArcConsole, ReceivedEvent
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto, free_port

SMOKE_ZONE = 7
CENTRE_ACCOUNTS = [(RESIDENT, None), (HUB, None)]


def _hub_with_arc(tmp_path: Path, broker: Mosquitto, centre_port: int) -> Path:
    """hub.toml with the resident's account RESIDENT and one receiver on ``centre_port``; a
    smoke device paired in the kitchen on zone SMOKE_ZONE."""
    config = write_hub_toml(tmp_path, broker, account=RESIDENT,
                            arc=arc_table(receiver("centre", centre_port)))
    store = Store(hub_config.load(config).database)
    try:
        store.add_device(SMOKE, KEY_SMOKE, "smoke", "kitchen", "r1", zone=SMOKE_ZONE)
    finally:
        store.close()
    return config


def _the_alarm(config: Path, state: str) -> dict[str, Any] | None:
    """The one alarm of this home, once it is in ``state``."""
    rows = alarms(hub_config.load(config))
    assert len(rows) <= 1, f"one smoke alarm, one alarm row: {rows}"
    return rows[0] if rows and rows[0]["state"] == state else None


async def _cli_alarms(config: Path) -> list[dict[str, Any]]:
    """`trygg hub alarms --json`, as an operator's script reads it."""
    proc = await asyncio.create_subprocess_exec(
        *TRYGG, "hub", "alarms", "--config", str(config), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(WAIT_S * 2):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    listed: list[dict[str, Any]] = json.loads(out)
    return listed


def _resident_events(events: list[ReceivedEvent]) -> list[ReceivedEvent]:
    return [e for e in events if e.account == RESIDENT and not e.is_link_test]


def _for(account: str, frames: list[dc09.Frame]) -> list[dc09.Frame]:
    """Messages other than link tests for ``account``, as a raw receiver parsed them."""
    return [f for f in frames if f.account == account and f.token != "NULL"]


def _has(code: str) -> Any:
    return lambda events: any(e.code == code for e in _resident_events(events))


async def test_smoke_alarm_reaches_the_centre_as_fire_is_acknowledged_then_restored(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    port = free_port()
    config = _hub_with_arc(tmp_path, mosquitto, port)
    cfg = hub_config.load(config)
    async with ArcConsole(port, CENTRE_ACCOUNTS) as centre, running_hub(cfg), \
            SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
        await smoke.event("smoke_alarm")
        assert await centre.wait_until(_has("FA"), WAIT_S), "no fire alarm at the centre"
        acknowledged = await eventually(lambda: _the_alarm(config, "acknowledged"), WAIT_S,
                                        "the hub marks the fire alarm acknowledged")
        (listed,) = await _cli_alarms(config)
        assert (listed["alarm_id"], listed["state"]) == (acknowledged["alarm_id"],
                                                         "acknowledged")

        await smoke.event("smoke_clear")
        assert await centre.wait_until(_has("FH"), WAIT_S), "no restore at the centre"
        resolved = await eventually(lambda: _the_alarm(config, "resolved"), WAIT_S,
                                    "the hub marks the fire alarm resolved")

    fire, restore = _resident_events(centre.events)  # exactly these two, in this order
    for event in (fire, restore):
        assert (event.token, event.account, event.zone, event.room, event.kind) == (
            "SIA-DCS", RESIDENT, SMOKE_ZONE, "kitchen", "fire")
        assert event.raised_at == int(acknowledged["raised_at"])
    assert (fire.code, fire.event) == ("FA", "raised")
    assert (restore.code, restore.event) == ("FH", "resolved")
    assert "Smoke alarm in kitchen" in (fire.text or "")
    assert (acknowledged["kind"], acknowledged["priority"], acknowledged["device_id"]) == (
        "fire", 1, SMOKE)
    # The life cycle in order: raised, handed to the forwarder, acked by the centre, cleared.
    assert (resolved["raised_at"] <= resolved["forwarded_at"] <= resolved["acknowledged_at"]
            <= resolved["resolved_at"])


async def test_alarm_stored_while_the_centre_is_silent_survives_kill_9_and_arrives_once(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    port = free_port()
    config = _hub_with_arc(tmp_path, mosquitto, port)
    # The centre takes connections and messages but never answers: the alarm is raised,
    # stored and queued, and the forwarder is waiting for an ACK that does not come.
    async with RawReceiver(port, silence) as silent, \
            SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
        hub = start_hub(config)
        try:
            await wait_until_acking(smoke, hub, config, probe=HEARTBEAT)
            await smoke.event("smoke_alarm")
            # Sent, unanswered, sent again: after failover_after (2) failures the receiver
            # counts as lost (ARC LINK DOWN, queued behind the fire alarm) and is probed with
            # the alarm again.
            assert await silent.wait_until(
                lambda frames: len(_for(RESIDENT, frames)) >= 3, WAIT_S), \
                "the hub did not keep sending the fire alarm"
            await eventually(lambda: _the_alarm(config, "forwarded"), WAIT_S,
                             "the alarm is stored as forwarded")
        finally:
            if hub.poll() is None:
                os.kill(hub.pid, signal.SIGKILL)
            stop_hub(hub)
    assert hub.returncode == -signal.SIGKILL
    # Killed mid-send: the alarm stored and handed to the forwarder, never acknowledged.
    assert _the_alarm(config, "forwarded"), alarms(hub_config.load(config))
    (in_flight_seq,) = {f.seq for f in _for(RESIDENT, silent.received)}  # retries: one number

    async with ArcConsole(port, CENTRE_ACCOUNTS) as centre:
        hub = start_hub(config)
        try:
            assert await centre.wait_until(_has("FA"), WAIT_S), \
                f"the fire alarm did not arrive after the restart; hub log:\n{hub_log(config)}"
            await eventually(lambda: _the_alarm(config, "acknowledged"), WAIT_S,
                             "the hub marks the fire alarm acknowledged after the restart")
            (listed,) = await _cli_alarms(config)
            assert listed["state"] == "acknowledged"
            # The link notice from before the kill, and its restore now that it answers.
            assert await centre.wait_until(
                lambda events: any(e.code == "YK" for e in events), WAIT_S), \
                "the centre was left with an open ARC LINK DOWN"
        finally:
            stop_hub(hub)
    got = _resident_events(centre.events)
    assert got, "nothing for the resident's account"
    # Once in substance: every copy is the same report under the same sequence number.
    assert {(e.code, e.zone, e.room, e.raised_at, e.sequence) for e in got} == {
        ("FA", SMOKE_ZONE, "kitchen", int(listed["raised_at"]), in_flight_seq)}
    notices = [e for e in centre.alarms() if e.account == HUB]
    assert [(e.code, e.zone) for e in notices] == [("YC", 0), ("YK", 0)]
