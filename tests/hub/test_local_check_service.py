"""The running hub (`trygg hub run`) and a local check: the rules' check becomes a ``prompt``
command to the prompting device, for the time left to answer; a device that does not take it
is asked again only for what is left, and not after the window; her press answers (no alarm).
Real mosquitto with the hub's ACLs, the hub's own service; the devices are CPython stand-ins
speaking the wire protocol (tools/sim/device.py), the hub's clock the test's."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.hub import DEV_A, DEV_B, KEY_A, KEY_B, WAIT_S, make_config, pair, running_hub
from trygg.hub.store import Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto

CALL, KITCHEN = DEV_B, DEV_A
T0 = 1_741_770_000.0  # a Wednesday morning in March, 10:00 in Oslo
STILL_S = 20 * 60  # no history: stillness is asked about at check_default_min


async def test_a_check_prompts_the_call_point_for_the_time_left_and_never_after(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mosquitto)
    pair(cfg, (KITCHEN, KEY_A, "motion", "kitchen"), (CALL, KEY_B, "call_point", "kitchen"))
    now = [T0]
    async with running_hub(cfg, clock=lambda: now[0]) as hub, \
            SimulatedDevice(KITCHEN, KEY_A, mosquitto.host, mosquitto.port) as pir, \
            SimulatedDevice(CALL, KEY_B, mosquitto.host, mosquitto.port,
                            answer_commands=False) as call:
        seq = await pir.event("motion")
        async with asyncio.timeout(WAIT_S):
            await pir.wait_acked({seq})
        now[0] = T0 + STILL_S + 30  # the check began 30 s ago
        await hub.tick()
        assert hub.desk.checks_asked == 1
        async with asyncio.timeout(WAIT_S):
            [prompt] = await call.wait_commands(1)
        assert prompt["command"] == "prompt"
        assert prompt["seconds"] == 90  # check_window_min 2, less the 30 s gone
        now[0] += 5  # (the hub's clock is the test's: its retry is due after retry_initial_s)
        async with asyncio.timeout(WAIT_S):
            again = await call.wait_commands(2)  # not taken: asked again ...
        assert again[1]["seconds"] == 85  # ... for what is left
        now[0] = T0 + STILL_S + 121  # the window has passed: no more prompts

        # The sender retries every retry_max_s (1 s here) at most: by then it has found the
        # window passed (it polls its store; nothing to await but its next round).
        async with asyncio.timeout(WAIT_S):
            while True:
                rows = await hub.db.run(lambda s: s.commands())
                if rows[0]["state"] != "pending":
                    break
                await asyncio.sleep(0.05)
        assert rows[0]["state"] == "expired"
        await hub.tick()  # no answer: she is asked once more (check_reasks 1), for 2 min
        async with asyncio.timeout(WAIT_S):
            repeated = await call.wait_commands(3)
        # The repeat's window began at 10:22 (the first one's end); the tick came 1 s later.
        assert repeated[2] == {**repeated[2], "command": "prompt", "seconds": 119}
        now[0] = T0 + STILL_S + 241  # that window has passed too
        await hub.tick()
        with Store(cfg.database) as store:
            alarms = store.alarms()
        # (Were the devices silent through the test's jump: their notices aside.)
        [alarm] = [a for a in alarms if a["kind"] != "device_silent"]
        assert "asked 10:20 (2x), no answer" in alarm["description"]  # 10:00 + 20 min, local


async def test_her_press_answers_the_check_and_raises_nothing(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mosquitto)
    pair(cfg, (KITCHEN, KEY_A, "motion", "kitchen"), (CALL, KEY_B, "call_point", "kitchen"))
    now = [T0]
    async with running_hub(cfg, clock=lambda: now[0]) as hub, \
            SimulatedDevice(KITCHEN, KEY_A, mosquitto.host, mosquitto.port) as pir, \
            SimulatedDevice(CALL, KEY_B, mosquitto.host, mosquitto.port) as call:
        seq = await pir.event("motion")
        async with asyncio.timeout(WAIT_S):
            await pir.wait_acked({seq})
        now[0] = T0 + STILL_S + 5
        await hub.tick()
        async with asyncio.timeout(WAIT_S):
            await call.wait_commands(1)
        now[0] += 20
        seq = await call.event("button")  # she pulls the cord
        async with asyncio.timeout(WAIT_S):
            await call.wait_acked({seq})
        await hub.desk.wait_idle()
        now[0] = T0 + STILL_S + 600
        await hub.tick()
        with Store(cfg.database) as store:
            kinds = {a["kind"] for a in store.alarms()}
        assert kinds <= {"device_silent"}  # neither a possible fall nor an assistance call
