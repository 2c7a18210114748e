"""The hub learns each device's heartbeat interval from the device (hello and heartbeat carry
it), at once, so "device silent" waits for the device's own interval instead of the resident's
default: a 10 s walk-test heartbeat is supervised at 30 s, a 3600 s one is not flagged at 900 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.hub import DEV_A, HEARTBEAT, KEY_A, WAIT_S, make_config, pair, running_hub
from trygg.hub.store import Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto

HELLO = {"type": "hello", "firmware": "1", "role": "motion", "board": "sim", "reset": "power_on"}


def stored_interval(cfg_db: str) -> float | None:
    with Store(cfg_db) as store:
        device = store.device(DEV_A)
        assert device is not None
        return device.heartbeat_s


async def test_the_devices_own_heartbeat_interval_reaches_supervision_at_once(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mosquitto, hub={"tick_s": 300})  # no tick in this test
    pair(cfg, (DEV_A, KEY_A, "motion", "hall"))
    async with running_hub(cfg) as hub, SimulatedDevice(DEV_A, KEY_A, mosquitto.host,
                                                        mosquitto.port) as dev:
        assert stored_interval(cfg.database) is None  # not known before the device says
        seq = await dev.send({**HELLO, "heartbeat_s": 10})
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({seq})
        await hub.ingest.idle.wait()
        assert stored_interval(cfg.database) == 10.0
        assert hub.desk.engine.config.devices[DEV_A].heartbeat_s == 10.0
        # set_config changed it: the next heartbeat says so.
        seq = await dev.send({**HEARTBEAT, "heartbeat_s": 3600})
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({seq})
        await hub.ingest.idle.wait()
        assert stored_interval(cfg.database) == 3600.0
        assert hub.desk.engine.config.devices[DEV_A].heartbeat_s == 3600.0
        # Older firmware that does not say keeps what is known.
        seq = await dev.send(dict(HEARTBEAT))
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({seq})
        await hub.ingest.idle.wait()
        assert stored_interval(cfg.database) == 3600.0
