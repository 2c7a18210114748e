"""kill -9 of the forwarder's process mid-send, then a restart: every alarm still arrives,
and the one in flight arrives with the sequence number it had before the crash."""

from __future__ import annotations

import signal
from pathlib import Path

from support.arc import (
    HUB,
    RESIDENT,
    RawReceiver,
    arc_table,
    kill_9,
    receiver,
    report,
    silence,
    start_forwarder,
)
from trygg.hub.arc import load_arc_config
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.mosquitto import free_port

WAIT = 20.0



async def test_kill_9_mid_send_then_restart_delivers_every_alarm_once_identified(
        tmp_path: Path) -> None:
    port = free_port()
    table = arc_table(receiver("arc", port), ack_timeout=30.0, supervision_interval=60.0)
    load_arc_config(table)  # validates the table
    alarms = [report(kind, zone=z) for z, kind in
              enumerate(("fire", "assistance", "inactivity", "low_battery"), start=1)]
    db = tmp_path / "arc.sqlite"

    # A receiver that takes the first message and never answers: the forwarder is mid-send.
    async with RawReceiver(port, silence) as silent:
        proc = await start_forwarder(table, db, [a.__dict__ for a in alarms])
        try:
            assert await silent.wait_until(bool, WAIT), "the forwarder sent nothing"
        finally:
            await kill_9(proc)
        on_the_wire = list(silent.received)
    assert proc.returncode == -signal.SIGKILL
    # Mid-send: one message out, its ACK awaited (ack_timeout is longer than this test), the
    # other three still queued behind it.
    assert len(on_the_wire) == 1, on_the_wire
    in_flight = on_the_wire[0]

    async with ArcConsole(port, [(RESIDENT, None), (HUB, None)]) as arc:
        proc = await start_forwarder(table, db, [])
        try:
            assert await arc.wait_until(
                lambda ev: {e.zone for e in ev if e.account == RESIDENT} >= {1, 2, 3, 4}, WAIT)
        finally:
            await kill_9(proc)
    got = [e for e in arc.alarms() if e.account == RESIDENT]
    assert [e.kind for e in got] == ["fire", "assistance", "inactivity", "low_battery"]
    # The message in flight at the kill was the fire alarm; after restart it carries the same
    # sequence number, so the centre can recognise a duplicate.
    assert in_flight.data.endswith("/FA001")
    assert got[0].sequence == in_flight.seq
