"""The assistance call point (firmware/roles/call_point.py) on simulated boards: a pull is one
urgent ``button`` event however long the cord is held, a contact brushed for less than
``call_press_ms`` is none; and through the real hub (`trygg hub run`, mosquitto with its ACLs,
a board provisioned over its pty) the walk test passes the call point and the call is one
assistance alarm that names the call point and its room."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support.simboards import MakeBoard, command, event
from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.tools.sim.board import HubSide
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.pty import PtyBoard

pytestmark = pytest.mark.micropython

CLI = [sys.executable, "-m", "trygg.tools.cli.main"]
# Long enough that the test's bounces (two control lines, a few ms apart) and its brushed
# contact are shorter than it even on a loaded machine.
PRESS_MS = 2000
LINE_TIMEOUT_S = 60.0  # for a line of `trygg walktest`


def seen(board: Any, signal: str, value: str, within_s: float = 5.0) -> bool:
    """Whether the simulated board's ``signal`` reads ``value`` ("get" on its control
    channel) at some moment within the time: the prompt's pattern changes every 0.5 s."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if board.control(f"get {signal}") == value:
            return True
    return False


def test_a_prompt_blinks_and_beeps_until_the_cord_is_pulled_which_is_the_answer(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("call_point", heartbeat_s=1, call_press_ms=0)
    assert board.control("get led") == "ok 0"
    result = command(hub, board, "prompt", seconds=60)
    assert result.msg["status"] == "ok"
    board.wait_for_line(r"call point: prompting for 60 s")
    assert seen(board, "led", "ok 1")
    assert seen(board, "led", "ok 0")  # blinking
    assert seen(board, "buzzer", "ok 2700 16384")  # a beep at a quarter duty ...
    assert seen(board, "buzzer", "ok 2700 0")  # ... now and then
    lines = len(board.lines)
    board.control("pin call 0")  # she pulls the cord: the answer, reported as a call
    hub.wait_for(event("button"))
    board.wait_for_line(r"call point: prompt ended", after=lines)
    assert board.control("get led") == "ok 0"
    assert board.control("get buzzer") == "ok 2700 0"
    board.control("pin call 1")
    # Unanswered, a prompt ends by itself after its seconds.
    lines = len(board.lines)
    assert command(hub, board, "prompt", seconds=1).msg["status"] == "ok"
    board.wait_for_line(r"call point: prompt ended", after=lines)
    assert board.control("get led") == "ok 0"


def test_a_pull_is_one_urgent_call_however_long_the_cord_is_held(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("call_point", heartbeat_s=1, call_press_ms=PRESS_MS)
    calls = event("button")
    board.control("pin call 0")  # pulled: the contact closes
    first = hub.wait_for(calls)
    for _ in range(3):  # the cord swings while held: the contact bounces open and shut
        board.control("pin call 1")
        board.control("pin call 0")
    # A heartbeat sealed well over call_press_ms after the bounces (uptime is in seconds).
    later = first.msg["uptime"] + PRESS_MS // 1000 + 2
    hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.msg["uptime"] >= later)
    assert [r for r in hub.received if calls(r)] == [first]

    lines = len(board.lines)
    board.control("pin call 1")  # let go: no event
    board.wait_for_line(r"call point: released", after=lines)
    board.control("pin call 0")  # brushed in passing
    board.control("pin call 1")
    board.wait_for_line(r"call point: contact opened again within call_press_ms: not a call",
                        after=lines)
    board.control("pin call 0")  # a second, real call
    second = hub.wait_for(lambda r: calls(r) and r.seq > first.seq)
    assert [r for r in hub.received if calls(r)] == [first, second]


def _provision(board: PtyBoard, config: Path, port: int, room: str) -> None:
    subprocess.run([*CLI, "provision", "--port", board.port, "--role", "call_point", "--room",
                    room, "--config", str(config), "--hub", f"127.0.0.1:{port}",
                    "--set", "resend_s=2", "--wait-online", "60"],
                   check=True, capture_output=True, timeout=240, stdin=subprocess.DEVNULL)


async def _readline_until(stream: Any, text: str) -> str:
    seen = []
    async with asyncio.timeout(LINE_TIMEOUT_S):
        while text not in (line := (await stream.readline()).decode()):
            if not line:
                raise AssertionError(f"ended before {text!r}: {''.join(seen)}")
            seen.append(line)
    return line


def _open_alarms(database: Path, deadline_s: float = 20.0) -> list[dict[str, Any]]:
    """The hub's open alarms once there is one (the hub's rules run after the event is
    stored), or [] at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        store = Store(database)
        try:
            alarms = store.alarms(open_only=True)
        finally:
            store.close()
        if alarms or time.monotonic() > deadline:
            return alarms
        time.sleep(0.2)


async def test_walk_test_passes_the_call_point_and_its_call_is_one_assistance_alarm(
        tmp_path: Path) -> None:
    mqtt_port = free_port()
    config = write_hub_config(tmp_path / "hub", mqtt_port=mqtt_port)
    hub_cfg = hub_config.load(config)
    with start_broker(config.parent, hub_cfg.mqtt.port), PtyBoard(tmp_path / "board") as board:
        hub = await asyncio.create_subprocess_exec(
            *CLI, "hub", "run", "--config", str(config), "--log-level", "warning",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.to_thread(_provision, board, config, mqtt_port, "bathroom")
            walk = await asyncio.create_subprocess_exec(
                *CLI, "walktest", "--config", str(config), "--timeout", "60", "--no-arc",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # its lines as it says them
            waiting = await _readline_until(walk.stdout, "waiting:")
            assert "call_point bathroom" in waiting
            assert "pull the cord (or press the button), then let go" in waiting
            await _readline_until(walk.stdout, "Trigger each device now")  # its starting point
            assert await asyncio.to_thread(board.control, "pin call 0") == "ok"
            passed = await _readline_until(walk.stdout, "PASSED: button")
            assert "call_point" in passed
            out, err = await asyncio.wait_for(walk.communicate(), 60)
            assert walk.returncode == 0, (out, err)
            alarms = await asyncio.to_thread(_open_alarms, Path(hub_cfg.database))
        finally:
            hub.terminate()
            await asyncio.wait_for(hub.wait(), 10)
    # The cord is still held: one call, one alarm.
    assert [(a["kind"], a["priority"], a["description"]) for a in alarms] == [
        ("assistance", 2, "Assistance call point activated (bathroom)")]
