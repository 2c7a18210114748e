"""`trygg walktest`: every device passes when triggered, then the centre acknowledges a test.

Real parts: simulated boards provisioned over their ptys, mosquitto with the hub's ACLs,
`trygg hub run`, and pysiaalarm as the alarm centre.
"""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from trygg.hub import config as hub_config
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.pty import PtyBoard

CLI = [sys.executable, "-m", "trygg.tools.cli.main"]


def provision(board: PtyBoard, config: Path, port: int, role: str, room: str) -> None:
    subprocess.run([*CLI, "provision", "--port", board.port, "--role", role, "--room", room,
                    "--config", str(config), "--hub", f"127.0.0.1:{port}",
                    "--set", "resend_s=2", "--wait-online", "60"],
                   check=True, capture_output=True, timeout=240, stdin=subprocess.DEVNULL)


async def test_walktest_passes_every_triggered_device_and_gets_the_test_alarm_acked(
        tmp_path: Path) -> None:
    mqtt_port, arc_port = free_port(), free_port()
    config = write_hub_config(tmp_path / "hub", mqtt_port=mqtt_port, arc={
        "account": "9999", "receivers": [{"name": "centre", "host": "127.0.0.1",
                                          "port": arc_port}]})
    broker = start_broker(config.parent, hub_config.load(config).mqtt.port)
    boards = [PtyBoard(tmp_path / "motion"), PtyBoard(tmp_path / "smoke")]
    async with ArcConsole(arc_port, [("1234", None), ("9999", None)]) as centre:
        with broker:
            hub = await asyncio.create_subprocess_exec(
                *CLI, "hub", "run", "--config", str(config), "--log-level", "warning",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for board in boards:
                    await asyncio.to_thread(board.start)
                await asyncio.to_thread(provision, boards[0], config, mqtt_port, "motion", "hall")
                await asyncio.to_thread(provision, boards[1], config, mqtt_port, "smoke",
                                        "kitchen")
                walk = await asyncio.create_subprocess_exec(
                    *CLI, "walktest", "--config", str(config), "--timeout", "60", "--json",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                await asyncio.sleep(1.5)  # the walk test has taken its starting point
                assert await asyncio.to_thread(boards[0].control, "pulse pir") == "ok"
                assert await asyncio.to_thread(boards[1].control, "pulse smoke_test 300") == "ok"
                out, err = await asyncio.wait_for(walk.communicate(), 120)
            finally:
                hub.terminate()
                await asyncio.wait_for(hub.wait(), 10)
                for board in boards:
                    board.close()
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert walk.returncode == 0, (result, err.decode()[-2000:])
        assert sorted((d["role"], d["seen"]) for d in result["devices"]) == [
            ("motion", "motion"), ("smoke", "smoke_test")]
        [test] = result["test_alarms"]
        assert test["acknowledged"] is True
        assert any(e.kind == "test" for e in centre.alarms())
