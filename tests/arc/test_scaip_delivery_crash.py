"""Kill -9 of the hub at every step of one alarm's delivery over SCAIP, then a restart: the
centre gets the fire alarm, and if more than once only under the same ref (a retransmission
it can recognise), never as a second alarm; the hub ends with the alarm acknowledged.

The same crash points and hub as ``test_delivery_crash.py`` (``trygg hub run`` in its own
process, a simulated smoke device over mosquitto), with a real kamailio between the hub and
the SCAIP console."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_delivery_crash import ZONE, _fire_and_die_at, _hub_toml, _restart_until_acknowledged

from support.hub import KEY_SMOKE, SMOKE
from support.scaip import CENTRE, CENTRE_PASSWORD, USERS, needs_sip, scaip_receiver
from trygg.hub import crash_points
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.kamailio import Kamailio
from trygg.tools.sim.mosquitto import Mosquitto
from trygg.tools.sim.scaip_console import ScaipConsole

pytestmark = needs_sip


@pytest.mark.slow
@pytest.mark.parametrize("point", crash_points.POINTS)
async def test_kill_9_at_every_step_over_scaip_keeps_one_ref(
        tmp_path: Path, mosquitto: Mosquitto, point: str) -> None:
    with Kamailio(USERS) as server:
        config = _hub_toml(tmp_path, mosquitto, server.port,
                           scaip_receiver("centre", server.port, transport="tcp"))
        async with ScaipConsole(server.host, server.port, user=CENTRE,
                                password=CENTRE_PASSWORD) as centre, \
                SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as smoke:
            await _fire_and_die_at(config, smoke, point)
            await _restart_until_acknowledged(config, centre)  # type: ignore[arg-type]
    fires = [e.mrq for e in centre.alarms() if e.kind == "fire" and e.mrq]
    assert fires
    # Once in substance: every copy the same request (same ref, same location).
    assert {(m.ref, m.lco, m.stc) for m in fires} == {(fires[0].ref, ZONE, 9)}, fires
