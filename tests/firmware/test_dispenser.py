"""Dispenser role on the simulated board against a real mosquitto: dose schedule, reminders,
dispensing, taken/missed, jam, empty, stock, and no double dose across resets.

The hub side places "now" a few seconds before a dose with set_time (the device's local time
is the hub's time plus its UTC offset), so no test waits for a real clock. The carousel's
mechanics are the simulated board's model (hw/sim/carousel.py): the firmware drives the servo
and reads the index, slot and tray sensors exactly as on the ESP32.
"""

from __future__ import annotations

import time

import pytest

from support.simboards import MakeBoard, command, event
from trygg.tools.sim.board import HubSide, Received, SimBoard
from trygg.tools.sim.mosquitto import Mosquitto

pytestmark = pytest.mark.micropython

DAY = 20_700  # a local day (days since 1970), 2026-09-04
UTC_OFFSET_MIN = 120  # Nordic summer time: local = UTC + 2 h
DOSE_MINUTE = 8 * 60  # 08:00 local


def set_local_time(hub: HubSide, board: SimBoard, minute: int, second: int) -> None:
    """set_time placing the device's local time at DAY, minute:second."""
    utc = DAY * 86400 + minute * 60 + second - UTC_OFFSET_MIN * 60
    result = command(hub, board, "set_time", time=utc, utc_offset_min=UTC_OFFSET_MIN)
    assert result.msg["status"] == "ok"


def schedule(hub: HubSide, board: SimBoard, doses: list[list[int]]) -> None:
    assert command(hub, board, "set_dose_schedule", doses=doses).msg["status"] == "ok"


def buzzer_sounds(board: SimBoard, within_s: float = 3.0) -> bool:
    """Whether the buzzer's PWM is seen on within the time (it beeps in a 2 s pattern)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if board.control("get buzzer") != "ok 2700 0":
            return True
    return False


def start_dose(hub: HubSide, board: SimBoard, dose_id: int = 7) -> Received:
    """Schedule one dose, place now 2 s before it, and return its dose_due."""
    schedule(hub, board, [[DOSE_MINUTE, dose_id]])
    set_local_time(hub, board, DOSE_MINUTE - 1, 58)
    return hub.wait_for(event("dose_due", dose_id))


def test_dose_is_dispensed_reminded_and_taken_when_tray_removed_in_window(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("dispenser", heartbeat_s=1)
    due = start_dose(hub, board)
    board.wait_for_line(r"dispenser: dose 7 dispensed, 27 left")
    assert board.control("carousel") == "ok 27 1"  # one compartment turned: one dose dropped
    board.wait_for_line(r"dispenser: reminder level 2")  # escalated every reminder_step_s
    assert buzzer_sounds(board)
    board.control("pin tray 1")  # tray removed
    taken = hub.wait_for(event("dose_taken", 7))
    assert taken.seq > due.seq
    assert board.control("get led") == "ok 0"  # reminders stop
    assert board.control("get buzzer") == "ok 2700 0"
    beat = hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.seq > taken.seq)
    assert beat.msg["stock"] == 27
    assert [r.msg["event"] for r in hub.received if r.msg["type"] == "event"] == [
        "dose_due", "dose_taken"]


def test_dose_not_taken_within_the_window_is_reported_missed(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("dispenser", dose_window_min=1)
    due = start_dose(hub, board)
    board.wait_for_line(r"dispenser: dose 7 dispensed")
    set_local_time(hub, board, DOSE_MINUTE + 1, 0)  # the hub's clock: the window has passed
    missed = hub.wait_for(event("dose_missed", 7))
    assert missed.seq > due.seq
    board.control("pin tray 1")  # too late: not reported as taken
    board.control("pin tray 0")
    # A taken event would be queued before the result of a command sent after the removal.
    assert command(hub, board, "set_config", config={"stock_low": 3}).msg["status"] == "ok"
    assert not [r for r in hub.received if r.msg.get("event") == "dose_taken"]


@pytest.mark.parametrize(("stimulus", "problem"), [("jam 1", "dispenser_jam"),
                                                    ("carousel 0", "dispenser_empty")],
                         ids=["jam", "empty"])
def test_dose_that_cannot_be_dispensed_reports_the_problem_and_missed(
        make_board: MakeBoard, hub: HubSide, stimulus: str, problem: str) -> None:
    board = make_board("dispenser", carousel_timeout_ms=300)
    board.control(stimulus)
    due = start_dose(hub, board)
    trouble = hub.wait_for(event(problem))
    missed = hub.wait_for(event("dose_missed", 7))
    assert due.seq < trouble.seq < missed.seq
    assert board.control("carousel").split()[2] == "0"  # nothing reached the tray


def test_stock_low_reported_and_refill_restores_stock(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("dispenser", carousel_slots=4, stock_low=3, heartbeat_s=1)
    rejected = command(hub, board, "set_dose_schedule", doses=[[60, 1], [120, 1]])
    assert rejected.msg["status"] == "rejected"
    assert "dose id 1 twice" in rejected.msg["detail"]
    start_dose(hub, board)
    low = hub.wait_for(event("stock_low"))
    assert low.msg["value"] == 3
    board.control("pin tray 1")
    hub.wait_for(event("dose_taken", 7))
    beat = hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.seq > low.seq)
    assert beat.msg["stock"] == 3
    board.control("carousel 28")  # the carer lifts the carousel out and puts it back full
    board.wait_for_line(r"dispenser: refilled, stock 4")
    hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.msg["stock"] == 4
                 and r.seq > beat.seq)


def test_power_cut_mid_window_resumes_the_dose_without_dispensing_twice(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("dispenser")
    schedule(hub, board, [[DOSE_MINUTE, 7], [DOSE_MINUTE + 30, 8]])
    set_local_time(hub, board, DOSE_MINUTE - 1, 58)
    hub.wait_for(event("dose_due", 7))
    board.wait_for_line(r"dispenser: dose 7 dispensed")
    board.kill()  # power cut: the RTC is lost with it
    mark = len(board.lines)
    hub_mark = len(hub.received)
    board.start()
    hub.wait_for(lambda r: r.msg["type"] == "hello" and not r.duplicate, after=hub_mark)
    set_local_time(hub, board, DOSE_MINUTE, 10)  # the hub answers the hello with the time
    board.wait_for_line(r"dispenser: reminder level", after=mark)  # the dose goes on
    assert board.control("carousel") == "ok 27 1"  # and was not dispensed again
    board.control("pin tray 1")
    hub.wait_for(event("dose_taken", 7))
    board.control("pin tray 0")
    # The schedule itself survived the power cut: the next dose falls due without a resend.
    set_local_time(hub, board, DOSE_MINUTE + 29, 58)
    hub.wait_for(event("dose_due", 8))
    board.wait_for_line(r"dispenser: dose 8 dispensed", after=mark)
    assert [r.msg["value"] for r in hub.received if r.msg.get("event") == "dose_due"
            and not r.duplicate] == [7, 8]


def test_doses_go_on_from_the_stored_schedule_while_the_hub_is_unreachable(
        make_board: MakeBoard, hub: HubSide, mosquitto: Mosquitto) -> None:
    board = make_board("dispenser", watchdog_ms=3000)
    schedule(hub, board, [[DOSE_MINUTE, 7]])
    set_local_time(hub, board, DOSE_MINUTE - 1, 56)
    mosquitto.stop()
    mark = len(board.lines)
    # A stuck task ends in a watchdog reset; the RTC keeps the time through it (no power cut).
    with pytest.raises(ConnectionError):
        board.control("hang 30", timeout=5)
    board.wait_for_line(r"device: ", after=mark)
    board.wait_for_line(r"dispenser: dose 7 dispensed", after=mark)
    board.control("pin tray 1")
    board.wait_for_line(r"up: seq \d+ event dose_taken", after=mark)
    start = len(hub.received)
    mosquitto.start()
    taken = hub.wait_for(event("dose_taken", 7), after=start, timeout=20)
    due = hub.wait_for(event("dose_due", 7), after=start)
    assert due.seq < taken.seq
    hello = hub.wait_for(lambda r: r.msg["type"] == "hello", after=start)
    assert hello.msg["reset"] == "watchdog"
    # One reset for the one stuck task: a board waiting for its hub feeds its watchdog.
    assert board.lines[mark:].count("sim: watchdog reset") == 1, board.lines[mark:]
