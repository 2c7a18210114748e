"""The motion unit on a simulated board (the real device loop under MicroPython): the first
trigger is reported at once, movement seen during the hold-off at its end, and movement before
the door moved ahead of the door event."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.simboards import MakeBoard
from trygg.tools.sim.board import HubSide, Received, SimBoard

pytestmark = pytest.mark.micropython


def of(board: SimBoard, kind: str, event: str | None = None) -> Callable[[Received], bool]:
    assert board.config is not None
    device_id = board.config["device_id"]
    return lambda r: (r.device_id == device_id and r.msg["type"] == kind
                      and (event is None or r.msg.get("event") == event))


def motions(hub: HubSide) -> list[int]:
    return [r.msg["value"] for r in hub.received if r.msg.get("event") == "motion"]


def test_movement_during_the_holdoff_is_reported_when_it_ends(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion", motion_holdoff_s=3)
    hub.wait_for(of(board, "hello"))
    board.control("pulse pir 5")
    first = hub.wait_for(of(board, "event", "motion"))
    assert first.msg["value"] == 1  # at once
    board.control("pulse pir 5")
    board.control("pulse pir 5")  # inside the hold-off: counted
    trailing = hub.wait_for(lambda r: r.msg.get("event") == "motion" and r.seq > first.seq,
                            timeout=15)
    assert trailing.msg["value"] == 2
    # The next hold-off ends with nothing counted: the unit is quiet again, and the next
    # trigger is reported at once.
    board.control("pulse pir 5")
    hub.wait_for(lambda r: r.msg.get("event") == "motion" and r.seq > trailing.seq,
                 timeout=15)
    assert motions(hub) == [1, 2, 1]


def test_movement_before_the_door_moved_is_reported_ahead_of_the_door_event(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion", motion_holdoff_s=3600, door_contact=True)
    hub.wait_for(of(board, "hello"))
    board.control("pin door 0")
    hub.wait_for(of(board, "event", "door_close"))
    board.control("pulse pir 5")
    hub.wait_for(of(board, "event", "motion"))
    board.control("pulse pir 5")  # walking to the door, inside an hour's hold-off
    board.control("pin door 1")
    opened = hub.wait_for(of(board, "event", "door_open"))
    events = [(r.seq, r.msg["event"], r.msg.get("value")) for r in hub.received
              if r.msg["type"] == "event"]
    assert events[-2:] == [(opened.seq - 1, "motion", 1), (opened.seq, "door_open", None)]
