"""Battery devices over ESP-NOW through the bridge, end to end on real components: the
firmware on the MicroPython unix port (battery boards and the bridge), the bridge on a
pseudo-terminal read by `trygg hub run` with pyserial, a real mosquitto. The unix port has
no radio: the air is the simulated ESP-NOW medium (tools/sim/espnow_medium.py), datagrams on
loopback with the loss, delay and range a test sets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trygg.hub.config import BridgeConfig
from trygg.hub.store import Store
from trygg.protocol import cose, frame, messages
from trygg.protocol.bridge import mac_for
from trygg.protocol.sequence import DEFAULT_STEP
from trygg.tools.sim.board import DEEP_SLEEP_EXIT_CODE, SimBoard
from trygg.tools.sim.centre import Centre
from trygg.tools.sim.espnow_home import BatteryHome, battery_home
from trygg.tools.sim.espnow_medium import EspNowMedium, ForgedRadio

pytestmark = pytest.mark.micropython

# A device paired a moment before the hub has reloaded its devices is refused once; its
# hello goes again after espnow_retry_s (30 s by default).
HELLO_S = 60.0
# A wake is a process start (ROMFS mount, imports) and an exchange through the bridge and the
# hub: seconds on a loaded machine. A bound, not a wait: a board that sleeps returns at once.
SLEEP_S = 30.0
CLI = [sys.executable, "-m", "trygg.tools.cli.main"]
RESIDENT_ACCOUNT, HUB_ACCOUNT = "1234", "9999"  # tools/sim/home.py: the resident's is 1234


@pytest.fixture
def medium() -> Iterator[EspNowMedium]:
    with EspNowMedium() as m:
        yield m


@pytest.fixture
def home(tmp_path: Path, micropython_bin: object, medium: EspNowMedium) -> Iterator[BatteryHome]:
    yield from battery_home(tmp_path, medium)


def test_motion_wakes_the_board_and_is_stored_and_acked_through_the_bridge(
        home: BatteryHome) -> None:
    board = home.add("battery_motion", heartbeat_s=60, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    board.control("pulse pir")
    stored = home.wait_event(device_id, "motion")
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    assert stored[0]["value"] == 1
    # Acked: the wake ended with an empty outbox.
    assert "outbox 0" in [line for line in board.lines if line.startswith("wake:")][-1]


def _wakes(board: SimBoard) -> list[str]:
    return [line for line in board.lines if line.startswith("wake:")]


def _settled(board: SimBoard) -> int:
    """Once the board is asleep: how many times it has slept."""
    deadline = time.monotonic() + 30
    while board.asleep is None:
        assert time.monotonic() < deadline, "\n".join(board.lines[-30:])
        time.sleep(0.02)
    return board.exits.count(DEEP_SLEEP_EXIT_CODE)


def _outbox(wake_line: str) -> int:
    return int(wake_line.split(" outbox ")[1].split()[0])


def _seq_writes(wake_line: str) -> int:
    return int(wake_line.split(" seqw ")[1].split()[0])


def _seqs(board: SimBoard, after: int = 0) -> list[int]:
    return [int(line.split()[2]) for line in board.lines[after:] if line.startswith("up: seq")]


def _motion_wake_then_pulse_while_awake(home: BatteryHome, **settings: Any
                                        ) -> tuple[SimBoard, str, int, int]:
    """A board woken by motion gets a second PIR pulse while it is still awake (its exchange:
    espnow_ack_ms 1000 leaves it listening at least 250 ms after its frame), over before it
    sleeps; returns the board, its id, its sleeps and its wakes before the first motion."""
    board = home.add("battery_motion", heartbeat_s=3600, espnow_ack_ms=1000, **settings)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    wakes = board.wakes
    lines = len(board.lines)
    # Levels, not `pulse`: a pulse's end reaches a board it woke only once that board's
    # control channel is up, a race with the second pulse's rising edge.
    board.control("pin pir 1")
    board.wait_for_line(r"up: seq \d+ event motion", after=lines, timeout=SLEEP_S)
    for level in (0, 1, 0):  # each answered by the awake board itself (asleep: a pin wake)
        board.control(f"pin pir {level}")
    return board, device_id, base, wakes


def test_a_pir_pulse_while_the_board_is_awake_is_reported_in_that_wake(
        home: BatteryHome) -> None:
    board, device_id, base, wakes = _motion_wake_then_pulse_while_awake(
        home, motion_holdoff_s=0)
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    stored = home.wait_event(device_id, "motion", 2)
    assert [m["value"] for m in stored] == [1, 1]
    # Reported and acked in the wake it happened in: not a second wake (a pulse that found
    # the board asleep would have woken it through its pin).
    assert board.wakes == wakes + 1, _wakes(board)
    assert _outbox(_wakes(board)[-1]) == 0


def test_a_pir_pulse_while_awake_in_a_hold_off_is_reported_when_the_hold_off_ends(
        home: BatteryHome) -> None:
    board, device_id, base, wakes = _motion_wake_then_pulse_while_awake(
        home, motion_holdoff_s=2)
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    assert len(home.events(device_id, "motion")) == 1  # the hold-off the first one opened
    assert board.wakes == wakes + 1
    # Its end (the timer) reports the movement seen inside it, with its count.
    stored = home.wait_event(device_id, "motion", 2)
    assert [m["value"] for m in stored] == [1, 1]
    board.wait_asleep(base + 2, timeout=SLEEP_S)
    assert board.wakes == wakes + 2
    assert "sim: deep sleep 2000 ms" in "\n".join(board.lines[-5:])  # a new hold-off


def test_an_event_made_out_of_range_is_kept_through_deep_sleep_and_delivered_when_back(
        home: BatteryHome, medium: EspNowMedium) -> None:
    board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    medium.set_in_range(mac_for(bytes.fromhex(device_id)), False)  # carried out of the house
    # 1 ms pulses: the PIR is low again when the board sleeps (a PIR still high would wake it
    # at once: another motion, as on the chip with motion_holdoff_s 0).
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    assert "failed 1 " in _wakes(board)[-1]  # not heard: kept on flash, asleep
    kept = _outbox(_wakes(board)[-1])
    assert kept >= 1  # (with a frame the hub did not ack in time before: set_time's result)
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")  # a second wake, still out of range
    board.wait_asleep(base + 2, timeout=SLEEP_S)
    assert _outbox(_wakes(board)[-1]) == kept + 1
    assert home.events(device_id, "motion") == []
    medium.set_in_range(mac_for(bytes.fromhex(device_id)), True)
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")  # back home: everything kept goes out, in order
    board.wait_asleep(base + 3, timeout=SLEEP_S)
    stored = home.wait_event(device_id, "motion", 3)
    assert _outbox(_wakes(board)[-1]) == 0
    assert [m["seq"] for m in stored] == sorted(m["seq"] for m in stored)


def test_a_hostile_neighbours_frames_are_rejected_and_counted(
        home: BatteryHome, medium: EspNowMedium) -> None:
    board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    bridge = bytes.fromhex(home.bridge_mac)
    neighbour = bytes.fromhex("02aabbccddee")
    # Garbage, a frame under a stranger's key, and one forged with the device's key id.
    stranger = frame.seal({"type": "event", "uptime": 1, "event": "button"},
                          cose.MacKey(os.urandom(32)), os.urandom(6), 5)
    forged = frame.seal({"type": "event", "uptime": 1, "event": "button"},
                        cose.MacKey(os.urandom(32)), bytes.fromhex(device_id), 9)
    for payload in (b"\x00" * 40, stranger, forged):
        assert medium.inject(neighbour, bridge, payload)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counted = home.rejections()
        if sum(counted.values()) >= 3:
            break
        time.sleep(0.2)
    assert counted.get(("", "malformed"), 0) + counted.get(("", "wrong_tag"), 0) >= 1, counted
    assert counted.get(("", "unknown_kid")) == 1, counted
    assert counted.get((device_id, "bad_mac")) == 1, counted
    assert home.events(device_id, "button") == []
    # The device is still answered through the bridge.
    board.control("pulse pir")
    home.wait_event(device_id, "motion")


def test_a_bridge_reboot_and_a_pulled_cable_lose_nothing_acked(home: BatteryHome) -> None:
    board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    # The bridge reboots (its process killed: the chip's reset) while the device sends.
    home.bridge_board.stop()
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    assert _outbox(_wakes(board)[-1]) >= 1  # unheard: kept
    home.bridge_board.start()
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")
    board.wait_asleep(base + 2, timeout=SLEEP_S)
    home.wait_event(device_id, "motion", 2)
    # The hub killed and restarted (the far end of the cable gone): the device's frames are
    # not acked meanwhile, so they are kept and sent again.
    home.kill_hub()
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")
    board.wait_asleep(base + 3, timeout=SLEEP_S)
    assert _outbox(_wakes(board)[-1]) >= 1
    home.start_hub()
    _settled(board)  # asleep: the pulse is its wake pin
    board.control("pulse pir 1")
    board.wait_asleep(base + 4, timeout=SLEEP_S)
    stored = home.wait_event(device_id, "motion", 4)
    assert len({m["seq"] for m in stored}) == len(stored) == 4  # each event stored once


def test_the_sequence_counter_is_kept_through_deep_sleep_and_a_power_cut_skips_its_block(
        home: BatteryHome) -> None:
    board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    for i in range(3):
        _settled(board)  # asleep: the pulse is its wake pin
        board.control("pulse pir 50")
        board.wait_asleep(base + 1 + i, timeout=SLEEP_S)
    wake_lines = _wakes(board)
    # The power-up reserved a block on flash; the wakes from deep sleep wrote nothing.
    assert _seq_writes(wake_lines[0]) == 1
    assert [_seq_writes(w) for w in wake_lines[-3:]] == [0, 0, 0]
    seqs = _seqs(board)
    assert seqs == sorted(set(seqs))
    assert seqs[-1] < DEFAULT_STEP
    home.wait_event(device_id, "motion", 3)
    # A power cut loses RTC memory: the counter starts past the reserved block, never reusing
    # a number it may have sent.
    lines = len(board.lines)
    board.restart()
    board.wait_for_line(r"wake: .* seqw 1", after=lines, timeout=SLEEP_S)
    assert min(_seqs(board, lines)) >= DEFAULT_STEP
    home.wait_event(device_id, "hello", 2)
    stored = [e["seq"] for e in home.events(device_id)]
    assert len(stored) == len(set(stored))


def _windows(board: SimBoard, after: int = 0) -> list[int]:
    return [i for i, line in enumerate(board.lines) if i >= after
            and line.startswith("service window ")]


def test_a_power_up_stays_awake_for_the_service_window_and_a_wake_from_deep_sleep_does_not(
        home: BatteryHome) -> None:
    # A sleeping ESP32 does not hear its UART: after a battery swap (or EN, or the USB cable)
    # the device waits espnow_service_s (default 3) for a technician's Ctrl-C before its
    # first deep sleep.
    board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    [window] = _windows(board)
    assert board.lines[window] == "service window 3 s (Ctrl-C for the REPL)"
    first_wake = next(i for i, line in enumerate(board.lines) if line.startswith("wake:"))
    hello = next(i for i, line in enumerate(board.lines) if line.startswith("up: seq"))
    assert hello < window < first_wake  # after the exchange with the hub, before the sleep
    assert int(board.lines[first_wake].split()[2]) >= 3000  # awake ms: it stayed awake
    assert "radio 3" not in board.lines[first_wake]  # the radio was off during the window
    # A wake from deep sleep (its pin) goes straight back to sleep.
    board.control("pulse pir 1")
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    home.wait_event(device_id, "motion")
    assert len(_windows(board)) == 1
    assert int(_wakes(board)[-1].split()[2]) < 3000
    # Power cut and back (a battery swap): a window again, and Ctrl-C in it stops the
    # firmware (on the chip: its REPL) instead of the device going to sleep.
    lines = len(board.lines)
    board.restart()
    board.wait_for_line(r"^service window 3 s", after=lines, timeout=SLEEP_S)
    board.interrupt()
    board.wait_for_line(r"KeyboardInterrupt", after=lines, timeout=SLEEP_S)
    assert board.exits.count(DEEP_SLEEP_EXIT_CODE) == base + 1
    assert not [line for line in board.lines[lines:] if line.startswith("wake:")]


def test_a_press_in_the_service_window_ends_it_and_is_a_call(home: BatteryHome) -> None:
    # The wearer tries the button right after the battery swap: the window must not swallow
    # the press. It ends the window; the deep sleep that follows wakes at once on the pin.
    board = home.add("button", heartbeat_s=3600, espnow_service_s=60)
    device_id = board.config["device_id"]
    board.wait_for_line(r"^service window 60 s", timeout=HELLO_S)
    board.control("pin button 0")
    ended, _ = board.wait_for_line(r"^service window: ended by button", timeout=SLEEP_S)
    board.wait_asleep(1, timeout=SLEEP_S)  # and woken at once by the pressed button
    # Released once the chip runs again (the wake reads the button first thing).
    board.wait_for_line(r"^sim: control channel", after=ended, timeout=SLEEP_S)
    board.control("pin button 1")  # a short press
    home.wait_event(device_id, "button", timeout=HELLO_S)
    assert len(_windows(board)) == 1


def test_low_battery_is_reported_before_the_device_goes_silent(home: BatteryHome) -> None:
    # Two lithium AA cells on their plateau read 3000 mV: below a Li-ion cell's limit, not a
    # spent pair.
    board = home.add("battery_motion", battery_mv=3000, heartbeat_s=2, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    home.wait_event(device_id, "heartbeat", 2)
    _settled(board)
    assert not [a for a in home.alarms() if a["device_id"] in (device_id, home.bridge_id)]
    board.control("battery 2500")  # the cells are running down
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        beats = [b for b in _heartbeats(home, device_id) if b.get("battery_mv") == 2500]
        if beats:
            break
        time.sleep(0.2)
    assert beats, _heartbeats(home, device_id)
    alarms = home.alarms()
    assert any(a["kind"] == "low_battery" and a["device_id"] == device_id for a in alarms)
    # The bridge on the hub's USB port has said hello and sent heartbeats all along: no notice.
    assert home.wait_event(home.bridge_id, "heartbeat", 2)
    assert not [a for a in alarms if a["device_id"] == home.bridge_id]


def _heartbeats(home: BatteryHome, device_id: str) -> list[dict[str, Any]]:
    store = Store(str(home.database))
    try:
        rows = store.conn.execute("SELECT body FROM events WHERE device_id = ? AND "
                                  "type = 'heartbeat'", (device_id,)).fetchall()
    finally:
        store.close()
    return [json.loads(body) for (body,) in rows]


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[Centre]:
    """A real SIA DC-09 centre console (pysiaalarm) on its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    console = Centre("dc09", tmp_path / "centre", accounts=(RESIDENT_ACCOUNT, HUB_ACCOUNT))
    try:
        asyncio.run_coroutine_threadsafe(console.start(), loop).result(30)
        yield console
    finally:
        asyncio.run_coroutine_threadsafe(console.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _arrivals(centre: Centre, kind: str, count: int) -> list[str | None]:
    deadline = time.monotonic() + 30
    while True:
        found = [a.event for a in list(centre.arrivals) if a.kind == kind]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_the_button_calls_shows_the_hub_has_it_and_the_centres_acknowledgement_and_cancels(
        tmp_path: Path, micropython_bin: object, medium: EspNowMedium, centre: Centre) -> None:
    arc = {"account": HUB_ACCOUNT, "receivers": [centre.receiver()]}
    home = BatteryHome(tmp_path / "home", medium=medium, arc=arc)
    try:
        _button_call_and_cancel(home.start(), centre)
    finally:
        home.close()


def _button_call_and_cancel(home: BatteryHome, centre: Centre) -> None:
    board = home.add("button", heartbeat_s=3600, feedback_poll_s=2, feedback_window_s=60)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    _settled(board)
    board.control("pin button 0")  # a short press wakes it
    time.sleep(0.2)
    board.control("pin button 1")
    home.wait_event(device_id, "button")
    # The hub stored the alarm (indicate 1), the centre acknowledged it (indicate 2): both
    # reach the wearer through the bridge, in that order, at its next asks.
    board.wait_for_line(r"button: feedback received", timeout=SLEEP_S)
    assert _arrivals(centre, "assistance", 1)[:1] == ["raised"]
    board.wait_for_line(r"button: feedback acknowledged", timeout=SLEEP_S)
    received = max(i for i, line in enumerate(board.lines) if "feedback received" in line)
    acknowledged = max(i for i, line in enumerate(board.lines)
                       if "feedback acknowledged" in line)
    assert received < acknowledged
    alarm = next(a for a in home.alarms() if a["kind"] == "assistance")
    assert alarm["state"] == "acknowledged"
    assert alarm["device_id"] == device_id
    # A long press is a cancel, not a second call: the centre receives the restore. The wake
    # that answered the indicate may already have ended: wait until the board is asleep.
    _settled(board)
    # Indicates of this call that come again (a hub retry after a restart, another copy): the
    # wearer is not shown a step twice, nor a step back; they reach it at the cancel's wake.
    stale = [_queue(home, device_id, {"command": "indicate", "level": level})
             for level in (1, 2)]
    board.control("pin button 0")
    board.wait_for_line(r"button: long press: cancel", timeout=20)
    board.control("pin button 1")
    home.wait_event(device_id, "cancel")
    assert _arrivals(centre, "assistance", 2) == ["raised", "resolved"]
    assert len(home.events(device_id, "button")) == 1
    board.wait_for_line(r"button: feedback level 2: shown already", timeout=SLEEP_S)
    assert _attempts(home, stale[1], 1) >= 1
    assert [line for line in board.lines if line in (
        "button: feedback received", "button: feedback acknowledged")] == [
        "button: feedback received", "button: feedback acknowledged"]
    alarm = next(a for a in home.alarms() if a["alarm_id"] == alarm["alarm_id"])
    assert alarm["state"] == "resolved"


def test_a_neighbour_forging_the_buttons_mac_cannot_take_its_feedback_from_the_bridge(
        tmp_path: Path, micropython_bin: object, medium: EspNowMedium) -> None:
    home = BatteryHome(tmp_path / "home", medium=medium)
    # The hub's own retry of a command minutes later would heal a theft by chance: out of
    # the picture, so what is proven is the bridge keeping the frame for the button's ask.
    with home.config.open("a") as f:
        f.write("\n[commands]\nretry_initial_s = 600\n")
    try:
        home.start()
        board = home.add("button", heartbeat_s=3600, feedback_poll_s=3, feedback_window_s=120)
        device_id = board.config["device_id"]
        home.wait_event(device_id, "hello", timeout=HELLO_S)
        _settled(board)
        board.control("pin button 0")  # a call: the button asks for feedback from now on
        time.sleep(0.2)
        board.control("pin button 1")
        home.wait_event(device_id, "button")
        mac = mac_for(bytes.fromhex(device_id))
        with ForgedRadio(medium.port, mac, bytes.fromhex(home.bridge_mac)) as neighbour:
            _settled(board)  # asleep between two asks: the centre acknowledges the call
            lines = len(board.lines)
            store = Store(str(home.database))
            try:
                command_id = store.add_command(device_id, {"command": "indicate", "level": 2},
                                               time.time())
            finally:
                store.close()
            deadline = time.monotonic() + 20
            while not neighbour.frames:  # the neighbour's poll took it from the mailbox
                assert time.monotonic() < deadline, "the neighbour was sent nothing"
                time.sleep(0.05)
            # The button's next ask gets it all the same, once.
            board.wait_for_line(r"button: feedback acknowledged", after=lines, timeout=20)
        assert _command_state(home, command_id, "ok") == "ok"  # its result reached the hub
        assert sum("feedback acknowledged" in line for line in board.lines) == 1
    finally:
        home.close()


def _command_state(home: BatteryHome, command_id: int, state: str) -> str | None:
    """The command's state once it is ``state``, or whatever it is after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        store = Store(str(home.database))
        try:
            row = store.conn.execute("SELECT state FROM commands WHERE command_id = ?",
                                     (command_id,)).fetchone()
        finally:
            store.close()
        if (row and row[0] == state) or time.monotonic() > deadline:
            return row[0] if row else None
        time.sleep(0.1)


# The hub's steps on the button's paths (hub/crash_points.py): its call stored but not yet
# queued for the centre (nor the wearer told), queued, the centre's answer recorded but the
# alarm not yet acknowledged (nor the wearer told); and its cancel's restore queued but the
# alarm not yet resolved.
BUTTON_CRASH_POINTS = ("alarm.stored", "alarm.forwarded", "arc.delivered",
                       "alarm.resolve_queued")


@pytest.mark.slow
@pytest.mark.parametrize("point", BUTTON_CRASH_POINTS)
def test_kill_9_of_the_hub_on_a_button_call_and_cancel_loses_nothing_and_doubles_nothing(
        tmp_path: Path, micropython_bin: object, medium: EspNowMedium, centre: Centre,
        point: str) -> None:
    arc = {"account": HUB_ACCOUNT, "receivers": [centre.receiver()]}
    home = BatteryHome(tmp_path / "home", medium=medium, arc=arc)
    try:
        home.start()
        board = home.add("button", heartbeat_s=3600, feedback_poll_s=2, feedback_window_s=120)
        device_id = board.config["device_id"]
        home.wait_event(device_id, "hello", timeout=HELLO_S)
        _restart_hub(home, crash_at=point)
        _settled(board)
        board.control("pin button 0")  # a call
        time.sleep(0.2)
        board.control("pin button 1")
        if point == "alarm.resolve_queued":
            board.wait_for_line(r"button: feedback acknowledged", timeout=SLEEP_S)
            _settled(board)
            board.control("pin button 0")  # a long press: cancel
            board.wait_for_line(r"button: long press: cancel", timeout=20)
            board.control("pin button 1")
        assert home.hub is not None
        assert home.hub.wait(WAIT_HUB_S) == -signal.SIGKILL, f"the hub did not die at {point}"
        _restart_hub(home)
        board.wait_for_line(r"button: feedback acknowledged", timeout=SLEEP_S)
        if point != "alarm.resolve_queued":
            _settled(board)
            board.control("pin button 0")
            board.wait_for_line(r"button: long press: cancel", timeout=20)
            board.control("pin button 1")
        home.wait_event(device_id, "cancel")
        assert _arrivals(centre, "assistance", 2)[-1:] == ["resolved"]
        # The call reached the centre as one alarm and the cancel as one restore: a copy sent
        # again after the kill is a retransmission under the same message id, never a second.
        messages = {(a.event, a.wire_id) for a in centre.arrivals if a.kind == "assistance"}
        assert sorted(e for e, _ in messages) == ["raised", "resolved"], centre.arrivals
        (alarm,) = [a for a in home.alarms() if a["kind"] == "assistance"]
        assert _alarm_state(home, alarm["alarm_id"], "resolved") == "resolved"
        assert len(home.events(device_id, "button")) == 1
        assert len(home.events(device_id, "cancel")) == 1
        # The wearer was told each step once and never backwards: stored, then acknowledged
        # (or only acknowledged, when the hub's "received" came later and was superseded).
        told = [line for line in board.lines
                if line in ("button: feedback received", "button: feedback acknowledged")]
        assert told in (["button: feedback received", "button: feedback acknowledged"],
                        ["button: feedback acknowledged"]), told
    finally:
        home.close()


WAIT_HUB_S = 60.0


def _restart_hub(home: BatteryHome, crash_at: str | None = None) -> None:
    """A hub started again (killed first if running) and reading the bridge: the bridge's
    next heartbeat is stored."""
    home.kill_hub()
    beats = len(home.events(home.bridge_id, "heartbeat"))
    home.start_hub(crash_at)
    home.wait_event(home.bridge_id, "heartbeat", beats + 1, timeout=WAIT_HUB_S)


def _alarm_state(home: BatteryHome, alarm_id: str, state: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        found = next(a for a in home.alarms() if a["alarm_id"] == alarm_id)["state"]
        if found == state or time.monotonic() > deadline:
            return str(found)
        time.sleep(0.1)


def test_the_walk_test_passes_a_battery_device_only_on_an_event_after_it_began(
        home: BatteryHome) -> None:
    from trygg.tools.device.walktest import walk

    board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
    device_id = board.config["device_id"]
    home.wait_event(device_id, "hello", timeout=HELLO_S)
    base = _settled(board)
    board.control("pulse pir 50")  # before the walk: passes nothing
    board.wait_asleep(base + 1, timeout=SLEEP_S)
    home.wait_event(device_id, "motion")
    said: list[str] = []
    asked = threading.Event()

    def say(line: str) -> None:
        said.append(line)
        if line.startswith("Trigger each device now"):
            asked.set()

    results: list[Any] = []
    walker = threading.Thread(target=lambda: results.extend(walk(home.config, 60, say)))
    walker.start()
    assert asked.wait(30)
    # The bridge passes on its next heartbeat (heartbeat_s 2 here); the sensor not yet.
    deadline = time.monotonic() + 20
    while not any("bridge" in line and "PASSED" in line for line in said):
        assert time.monotonic() < deadline, said
        time.sleep(0.1)
    assert not any("battery_motion" in line and "PASSED" in line for line in said)
    _settled(board)
    board.control("pulse pir 50")  # the technician walks past
    walker.join(60)
    passed = {r["device_id"]: r for r in results}
    assert passed[device_id]["passed"]
    assert passed[device_id]["seen"] == "motion"
    assert passed[home.bridge_id]["passed"]


def _long_retry_home(tmp_path: Path, medium: EspNowMedium) -> BatteryHome:
    """A home whose hub retries a command only after 50 minutes: a command reaches a battery
    device by the bridge's mailbox or at its wake, never by a lucky retry."""
    home = BatteryHome(tmp_path / "home", medium=medium)
    with home.config.open("a") as f:
        f.write("\n[commands]\nretry_initial_s = 3000\n")
    return home


def _queue(home: BatteryHome, device_id: str, command: dict[str, Any]) -> int:
    store = Store(str(home.database))
    try:
        return store.add_command(device_id, command, time.time())
    finally:
        store.close()


def _attempts(home: BatteryHome, command_id: int, count: int) -> int:
    """The command's attempts once they are ``count``, or however many after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        store = Store(str(home.database))
        try:
            (attempts,) = store.conn.execute("SELECT attempts FROM commands WHERE "
                                             "command_id = ?", (command_id,)).fetchone()
        finally:
            store.close()
        if attempts >= count or time.monotonic() > deadline:
            return int(attempts)
        time.sleep(0.05)


def _results(home: BatteryHome, device_id: str, command_id: int) -> list[dict[str, Any]]:
    store = Store(str(home.database))
    try:
        rows = store.conn.execute("SELECT body FROM events WHERE device_id = ? AND "
                                  "type = 'command_result'", (device_id,)).fetchall()
    finally:
        store.close()
    return [b for b in (json.loads(body) for (body,) in rows) if b["command_id"] == command_id]


def _command_ids(frames: list[bytes]) -> set[int]:
    """The command ids of the hub's commands among ``frames`` (read, not verified)."""
    ids: set[int] = set()
    for data in list(frames):
        msg = messages.decode(cose.parse(data)[4], cose.DOWN)
        if msg["type"] == "command":
            ids.add(msg["command_id"])
    return ids


def _ran(board: SimBoard, after: int, command_id: int) -> list[str]:
    """The board's lines on the command (not on the hello's set_time: on a loaded machine its
    first copy may come after the hello's wake, and then it goes out at the next wake too)."""
    return [line for line in board.lines[after:]
            if line.startswith("down: command") and f"(id {command_id})" in line]


HOLDOFF_OFF = {"command": "set_config", "config": {"motion_holdoff_s": 0}}


def _apart(board: SimBoard) -> int:
    """Once the board is asleep, and its next wake is a wake of its own to the hub: the hub
    tells one wake's frames from the next by a pause of [bridge] wake_gap_s (a battery
    device's wakes are a hold-off apart; this board's, 0, come as fast as a test pulses)."""
    base = _settled(board)
    time.sleep(BridgeConfig().wake_gap_s)
    return base


def test_a_command_kept_in_the_mailbox_and_sent_again_at_the_wake_runs_once(
        tmp_path: Path, micropython_bin: object, medium: EspNowMedium) -> None:
    home = _long_retry_home(tmp_path, medium)
    try:
        home.start()
        board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
        device_id = board.config["device_id"]
        home.wait_event(device_id, "hello", timeout=HELLO_S)
        base = _settled(board)
        command_id = _queue(home, device_id, HOLDOFF_OFF)
        # Sent while the board sleeps: the bridge keeps it in its mailbox.
        assert _attempts(home, command_id, 1) == 1
        _apart(board)
        lines = len(board.lines)
        board.control("pulse pir 1")
        # The bridge hands over the copy it kept, and the hub, hearing the board, sends the
        # command again: two frames of one command id in one wake.
        assert _command_state(home, command_id, "ok") == "ok"
        board.wait_asleep(base + 1, timeout=SLEEP_S)
        assert _attempts(home, command_id, 2) == 2
        ran = _ran(board, lines, command_id)
        assert ran == [f"down: command set_config (id {command_id})",
                       f"down: command set_config (id {command_id}) again: run already"], ran
        assert len(_results(home, device_id, command_id)) == 1
    finally:
        home.close()


def test_a_command_reaches_a_sensor_that_never_polls_at_its_next_wake_despite_a_forger(
        tmp_path: Path, micropython_bin: object, medium: EspNowMedium) -> None:
    home = _long_retry_home(tmp_path, medium)
    try:
        home.start()
        board = home.add("battery_motion", heartbeat_s=3600, motion_holdoff_s=0)
        device_id = board.config["device_id"]
        home.wait_event(device_id, "hello", timeout=HELLO_S)
        base = _settled(board)
        mac = mac_for(bytes.fromhex(device_id))
        # While the sensor sleeps, a neighbour polling in its name takes the hub's copy from
        # the bridge's mailbox (kept, but sent again only for a poll, which a motion sensor
        # never makes), and is gone when the sensor wakes.
        with ForgedRadio(medium.port, mac, bytes.fromhex(home.bridge_mac)) as neighbour:
            command_id = _queue(home, device_id, HOLDOFF_OFF)
            deadline = time.monotonic() + 20
            while command_id not in _command_ids(neighbour.frames):
                assert time.monotonic() < deadline, "the neighbour was not sent the command"
                time.sleep(0.05)
        assert _attempts(home, command_id, 1) == 1
        _apart(board)  # asleep: the pulse is its wake pin
        lines = len(board.lines)
        board.control("pulse pir 1")  # the sensor wakes: a motion event, nothing asked
        assert _command_state(home, command_id, "ok") == "ok"
        board.wait_asleep(base + 1, timeout=SLEEP_S)
        ran = _ran(board, lines, command_id)
        assert ran == [f"down: command set_config (id {command_id})"], ran
        assert len(_results(home, device_id, command_id)) == 1
        assert len(home.events(device_id, "motion")) == 1
    finally:
        home.close()
