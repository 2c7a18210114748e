"""`trygg walktest`: a device passes only when triggered after the walk test asked for it, then
the centre acknowledges a test alarm.

Real parts: simulated boards provisioned over their ptys, mosquitto with the hub's ACLs,
`trygg hub run`, and pysiaalarm as the alarm centre. The test acts on the walk test's own
lines (stderr with --json), as a technician acts on what the screen says.
"""

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.hub import eventually
from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.pty import PtyBoard

pytestmark = pytest.mark.micropython  # the boards run the firmware on the MicroPython unix port

CLI = [sys.executable, "-m", "trygg.tools.cli.main"]
WAIT_S = 60.0
QUIET_S = 3.0


def provision(board: PtyBoard, config: Path, port: int, role: str, room: str,
              *settings: str) -> str:
    sets = [arg for setting in ("resend_s=2", *settings) for arg in ("--set", setting)]
    done = subprocess.run([*CLI, "provision", "--port", board.port, "--role", role, "--room",
                           room, "--config", str(config), "--hub", f"127.0.0.1:{port}", *sets,
                           "--wait-online", "60", "--json"],
                          check=True, capture_output=True, timeout=240, stdin=subprocess.DEVNULL)
    device_id: str = json.loads(done.stdout)["device_id"]
    return device_id


def stored_motion(config: Path, device_id: str) -> bool:
    with Store(hub_config.load(config).database) as store:
        return any(e.name == "motion" for e in store.events(device_id=device_id))


async def read_until(stream: asyncio.StreamReader, pattern: str, lines: list[str]) -> str:
    """Read the walk test's lines into ``lines`` until one matches ``pattern``; return it."""
    async with asyncio.timeout(WAIT_S):
        while True:
            raw = await stream.readline()
            assert raw, f"the walk test ended before printing {pattern!r}: {lines}"
            line = raw.decode().rstrip()
            lines.append(line)
            if re.search(pattern, line):
                return line


async def test_walktest_passes_only_devices_triggered_after_it_asked_and_gets_the_test_alarm_acked(
        tmp_path: Path) -> None:
    mqtt_port, arc_port = free_port(), free_port()
    config = write_hub_config(tmp_path / "hub", mqtt_port=mqtt_port, arc={
        "account": "9999", "receivers": [{"name": "centre", "host": "127.0.0.1",
                                          "port": arc_port}]})
    broker = start_broker(config.parent, hub_config.load(config).mqtt.port)
    boards = [PtyBoard(tmp_path / "motion"), PtyBoard(tmp_path / "smoke")]
    lines: list[str] = []
    async with ArcConsole(arc_port, [("1234", None), ("9999", None)]) as centre:
        with broker:
            hub = await asyncio.create_subprocess_exec(
                *CLI, "hub", "run", "--config", str(config), "--log-level", "warning",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for board in boards:
                    await asyncio.to_thread(board.start)
                # No hold-off: the motion sensor is triggered twice within a minute.
                motion = await asyncio.to_thread(provision, boards[0], config, mqtt_port,
                                                 "motion", "hall", "motion_holdoff_s=0")
                await asyncio.to_thread(provision, boards[1], config, mqtt_port, "smoke",
                                        "kitchen")
                # Triggered before the walk test: stored, and must count for nothing.
                assert await asyncio.to_thread(boards[0].control, "pulse pir") == "ok"
                await eventually(lambda: stored_motion(config, motion), WAIT_S,
                                 "the motion from before the walk is stored")
                # Not a wait for anything: the store stays quiet for a while, so that what
                # happened before the walk is not also "the last second" (a window by age
                # would let the stored motion pass).
                await asyncio.sleep(QUIET_S)

                walk = await asyncio.create_subprocess_exec(
                    *CLI, "walktest", "--config", str(config), "--timeout", "60", "--json",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                assert walk.stderr is not None
                await read_until(walk.stderr, r"^Trigger each device now", lines)
                assert await asyncio.to_thread(boards[1].control, "pulse smoke_test 300") == "ok"
                await read_until(walk.stderr, r"smoke .* PASSED", lines)
                # The motion stored before the walk has not passed it (it is older than the
                # starting point, and the walk reads the store in order of arrival).
                assert not [line for line in lines if "motion" in line and "PASSED" in line], \
                    lines
                assert await asyncio.to_thread(boards[0].control, "pulse pir") == "ok"
                await read_until(walk.stderr, r"motion .* PASSED", lines)
                out, err = await asyncio.wait_for(walk.communicate(), 120)
            finally:
                hub.terminate()
                await asyncio.wait_for(hub.wait(), 10)
                for board in boards:
                    board.close()
        result = json.loads(out.decode())  # stdout is the JSON result alone
        assert walk.returncode == 0, (result, lines, err.decode()[-2000:])
        passed = {d["role"]: d for d in result["devices"]}
        assert {role: d["seen"] for role, d in passed.items()} == {
            "motion": "motion", "smoke": "smoke_test"}
        assert passed["motion"]["after_s"] >= passed["smoke"]["after_s"]
        [test] = result["test_alarms"]
        assert test["acknowledged"] is True
        assert any(e.kind == "test" for e in centre.alarms())
