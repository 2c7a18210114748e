"""Kill -9 of the hub at every step of one alarm's delivery, then a restart: the centre gets
the alarm, and if more than once, only as a retransmission of the same message (same DC-09
sequence number, SIA DC-09 §5.5.1.5; same SOS Access reference), never as a second alarm;
the hub ends with the alarm acknowledged.

The steps are the hub's named crash points (``trygg.hub.crash_points``): the hub kills itself
with SIGKILL on reaching the one named in ``TRYGG_CRASH_AT``, which hits instants no outside
observer could (an ACK read but not yet recorded). Real parts otherwise: a simulated smoke
device over mosquitto, ``trygg hub run`` in its own process, pysiaalarm as the centre.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.arc import HUB, RESIDENT, arc_table, receiver
from support.hub import (
    HEARTBEAT,
    KEY_SMOKE,
    SMOKE,
    TRYGG,
    WAIT_S,
    alarms,
    eventually,
    hub_log,
    stop_hub,
    wait_until_acking,
    write_hub_toml,
)
from trygg.hub import config as hub_config
from trygg.hub import crash_points
from trygg.hub.store import Store
from trygg.tools.sim.arc_console import ArcConsole, ReceivedEvent
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto, free_port
from trygg.tools.sim.sos_access_console import SosAccessConsole

ZONE = 7
SOS_CODE, SOS_PASSWORD = "1234567", "hxp4x9nnwxjatv8"
CENTRE_ACCOUNTS = [(RESIDENT, None), (HUB, None)]


def _hub_toml(tmp_path: Path, broker: Mosquitto, port: int,
              centre: dict[str, Any] | None = None) -> Path:
    config = write_hub_toml(tmp_path, broker, account=RESIDENT,
                            arc=arc_table(centre or receiver("centre", port)))
    store = Store(hub_config.load(config).database)
    try:
        store.add_device(SMOKE, KEY_SMOKE, "smoke", "kitchen", "r1", zone=ZONE)
    finally:
        store.close()
    return config


def _start(config: Path, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != crash_points.ENV}
    if crash_at is not None:
        env[crash_points.ENV] = crash_at
    with open(config.with_name("hub.log"), "ab") as log:
        return subprocess.Popen([*TRYGG, "hub", "run", "--config", str(config), "--log-level",
                                 "info"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, env=env)


def _fire_events(centre: ArcConsole) -> list[ReceivedEvent]:
    return [e for e in centre.events if e.account == RESIDENT and e.code == "FA"]


def _the_alarm(config: Path, state: str) -> dict[str, Any] | None:
    rows = alarms(hub_config.load(config))
    assert len(rows) <= 1, rows
    return rows[0] if rows and rows[0]["state"] == state else None


async def _restart_until_acknowledged(config: Path, centre: ArcConsole | SosAccessConsole
                                      ) -> dict[str, Any]:
    hub = _start(config)
    try:
        arrived = (lambda: _fire_events(centre)) if isinstance(centre, ArcConsole) else (
            lambda: centre.alarms())
        assert await centre.wait_until(lambda _: bool(arrived()), WAIT_S), \
            f"no fire alarm at the centre after the restart; hub log:\n{hub_log(config)}"
        return await eventually(lambda: _the_alarm(config, "acknowledged"), WAIT_S,
                                "the alarm is acknowledged after the restart")
    finally:
        stop_hub(hub)


def _one_alarm(got: list[ReceivedEvent], raised_at: float) -> None:
    """Once in substance: every copy the same report under the same sequence number."""
    assert got
    assert {(e.code, e.zone, e.room, e.raised_at, e.sequence) for e in got} == {
        ("FA", ZONE, "kitchen", int(raised_at), got[0].sequence)}, got


@pytest.mark.slow
@pytest.mark.parametrize("point", crash_points.POINTS)
async def test_kill_9_at_every_step_of_delivery_never_makes_a_second_alarm(
        tmp_path: Path, mosquitto: Mosquitto, point: str) -> None:
    port = free_port()
    config = _hub_toml(tmp_path, mosquitto, port)
    async with ArcConsole(port, CENTRE_ACCOUNTS) as centre, \
            SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
        await _fire_and_die_at(config, smoke, point)
        acknowledged = await _restart_until_acknowledged(config, centre)
        # Any copy still on its way would have arrived by the time the hub recorded the ACK.
    _one_alarm(_fire_events(centre), acknowledged["raised_at"])


@pytest.mark.slow
@pytest.mark.parametrize("point", crash_points.POINTS)
async def test_kill_9_at_every_step_over_sos_access_keeps_one_reference(
        tmp_path: Path, mosquitto: Mosquitto, point: str) -> None:
    auth = tmp_path / "sos-auth"
    auth.write_text(SOS_PASSWORD + "\n")
    auth.chmod(0o600)
    port = free_port()
    config = _hub_toml(tmp_path, mosquitto, port, {
        "name": "centre", "host": "127.0.0.1", "port": port, "protocol": "sos-access",
        "transmitter_code": SOS_CODE, "transmitter_type": "TRYGG", "receiver_id": "1",
        "authentication_file": str(auth)})
    async with SosAccessConsole(port, {SOS_CODE: SOS_PASSWORD}) as centre, \
            SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
        await _fire_and_die_at(config, smoke, point)
        await _restart_until_acknowledged(config, centre)
    fires = [e for e in centre.events if e.fields.get("eventcode") == "FA"]
    # Once in substance: one reference; a repeat is answered as the duplicate it is.
    assert {(e.reference, e.fields["section"]) for e in fires} == {
        (fires[0].reference, f"{ZONE:03d}")}, fires
    assert [e.status for e in fires] == [0] + [10] * (len(fires) - 1)


async def _fire_and_die_at(config: Path, smoke: SimulatedDevice, point: str) -> None:
    hub = _start(config, crash_at=point)
    try:
        await wait_until_acking(smoke, hub, config, probe=HEARTBEAT)
        await smoke.event("smoke_alarm")
        await asyncio.wait_for(asyncio.to_thread(hub.wait), WAIT_S)
    finally:
        stop_hub(hub)
    assert hub.returncode == -signal.SIGKILL, (
        f"the hub did not die at {point}; log:\n{hub_log(config)}")


@pytest.mark.slow
async def test_kill_9_between_queueing_and_recording_a_resolution_still_resolves_once(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    (point,) = crash_points.RESOLVE_POINTS
    port = free_port()
    config = _hub_toml(tmp_path, mosquitto, port)
    async with ArcConsole(port, CENTRE_ACCOUNTS) as centre, \
            SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
        hub = _start(config, crash_at=point)
        try:
            await wait_until_acking(smoke, hub, config, probe=HEARTBEAT)
            await smoke.event("smoke_alarm")
            await eventually(lambda: _the_alarm(config, "acknowledged"), WAIT_S,
                             "the alarm is acknowledged")
            await smoke.event("smoke_clear")
            await asyncio.wait_for(asyncio.to_thread(hub.wait), WAIT_S)
        finally:
            stop_hub(hub)
        assert hub.returncode == -signal.SIGKILL, hub_log(config)
        assert _the_alarm(config, "acknowledged"), "the crash came before the store knew"
        hub = _start(config)
        try:
            resolved = await eventually(lambda: _the_alarm(config, "resolved"), WAIT_S,
                                        "the alarm is resolved after the restart")
            assert await centre.wait_until(
                lambda ev: any(e.code == "FH" for e in ev), WAIT_S), "no restore at the centre"
        finally:
            stop_hub(hub)
    restores = [e for e in centre.events if e.account == RESIDENT and e.code == "FH"]
    assert {(e.zone, e.sequence) for e in restores} == {(ZONE, restores[0].sequence)}
    assert resolved["resolved_at"] >= resolved["acknowledged_at"]


async def test_alarm_marked_unsent_after_delivery_is_not_sent_as_a_new_message(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The deterministic form of the defect: the centre has the alarm, but the hub's store
    says it was never handed over (state raised, forwarded_at empty), as a kill between the
    two databases' commits leaves it. The restart submits it again; the outbox remembers
    the delivery, so the centre gets nothing new and the hub learns it was acknowledged."""
    port = free_port()
    config = _hub_toml(tmp_path, mosquitto, port)
    async with ArcConsole(port, CENTRE_ACCOUNTS) as centre, \
            SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
        hub = _start(config)
        try:
            await wait_until_acking(smoke, hub, config, probe=HEARTBEAT)
            await smoke.event("smoke_alarm")
            await eventually(lambda: _the_alarm(config, "acknowledged"), WAIT_S,
                             "the alarm is acknowledged")
        finally:
            stop_hub(hub)
        first = list(_fire_events(centre))
        db = sqlite3.connect(hub_config.load(config).database)
        with db:
            db.execute("UPDATE alarms SET state='raised', forwarded_at=NULL, "
                       "acknowledged_at=NULL")
        db.close()
        acknowledged = await _restart_until_acknowledged(config, centre)
    assert len(first) == 1
    _one_alarm(_fire_events(centre), acknowledged["raised_at"])
