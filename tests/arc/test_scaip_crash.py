"""kill -9 of the hub's forwarder in the middle of a SCAIP exchange, then a restart: the alarm
reaches the centre under the same ref (a retransmission the centre can recognise), at most
twice, and never as two different alarms."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from support.arc import arc_table, kill_9, report, start_forwarder
from support.scaip import CENTRE, CENTRE_PASSWORD, USERS, needs_sip, scaip_receiver
from trygg.hub.arc import load_arc_config
from trygg.tools.sim.kamailio import Kamailio
from trygg.tools.sim.scaip_console import AnswerPolicy, ScaipConsole

pytestmark = needs_sip

WAIT = 20.0



@pytest.mark.parametrize("first_answer", [
    "silent",  # killed while waiting for the centre's <mrs>
    "ok",  # killed while the centre's OK is on its way back
])
async def test_kill_9_mid_exchange_sends_the_same_ref_at_most_twice(
        tmp_path: Path, first_answer: str) -> None:
    fire = report("fire", zone=3)
    db = tmp_path / "arc.sqlite"
    with Kamailio(USERS) as server:
        # Link tests off (an hour): only the alarm travels.
        table = arc_table(scaip_receiver("arc", server.port, response_timeout=10.0),
                          supervision_interval=3600.0)
        load_arc_config(table)
        killed = asyncio.Event()
        async with ScaipConsole(server.host, server.port, user=CENTRE,
                                password=CENTRE_PASSWORD,
                                policy=AnswerPolicy.parse(first_answer)) as console:
            proc: asyncio.subprocess.Process | None = None

            def at_first_request(_event: object) -> None:
                # Kill the hub the moment its request reaches the centre.
                if proc is not None and not killed.is_set():
                    killed.set()
                    os.kill(proc.pid, signal.SIGKILL)

            console.on_event = at_first_request
            proc = await start_forwarder(table, db, [fire.__dict__])
            await asyncio.wait_for(killed.wait(), WAIT)
            await kill_9(proc)
            assert proc.returncode == -signal.SIGKILL
            console.on_event = None
            console.policy = AnswerPolicy.parse("ok")
            restarted = await start_forwarder(table, db, [])
            try:
                # Delivered: the restarted hub sends it again unless the kill came after it
                # had recorded the OK; either way the centre has accepted it once.
                assert await console.wait_until(
                    lambda ev: any(e.snu == 0 and e.kind == "fire" for e in ev), WAIT)
                await asyncio.sleep(0.5)  # room for a wrong third transmission to show
            finally:
                await kill_9(restarted)
    fires = [e.mrq for e in console.alarms() if e.kind == "fire" and e.mrq]
    assert 1 <= len(fires) <= 2, [f.ref for f in fires]
    assert len({f.ref for f in fires}) == 1  # one alarm, perhaps retransmitted
    assert all(f.lco == 3 for f in fires)
