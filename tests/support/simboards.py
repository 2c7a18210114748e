"""Fixtures and helpers shared by the firmware tests on simulated boards (tests/firmware/).

tests/firmware/conftest.py imports the fixtures ``hub`` and ``make_board``, so they are there
for every test module of that folder; the helpers are imported by name. ``make_board``
provisions and starts boards on the test's mosquitto and registers their keys with the ``hub``
side, which verifies and acks what they send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest

from trygg.hub.roles import foreign_settings
from trygg.tools.sim.board import HubSide, Received, SimBoard, board_config
from trygg.tools.sim.mosquitto import Mosquitto

# Short link timings so outages heal in about a second; long heartbeats unless a test needs
# them; no motion hold-off; fast sampling; reminder steps of a second (each role's board gets
# those that are its settings).
FAST = {"reconnect_min_ms": 50, "reconnect_max_s": 1, "heartbeat_s": 3600, "resend_s": 1,
        "resend_max_s": 2, "motion_holdoff_s": 0, "sample_ms": 20, "reminder_step_s": 1}

MakeBoard = Callable[..., SimBoard]
_command_ids = count(1)


@pytest.fixture
def hub(mosquitto: Mosquitto) -> Iterator[HubSide]:
    with HubSide(mosquitto.host, mosquitto.port) as side:
        yield side


@pytest.fixture
def make_board(micropython_bin: Any, mosquitto: Mosquitto, hub: HubSide) -> Iterator[MakeBoard]:
    """``make(role, start=True, romfs=True, **config)``: a provisioned board, its packages in
    ROMFS or (``romfs=False``) as files; started, it has said hello."""
    boards: list[SimBoard] = []

    def make(role: str = "motion", start: bool = True, romfs: bool = True,
             **overrides: Any) -> SimBoard:
        fast = {k: v for k, v in FAST.items() if k not in foreign_settings(role)}
        cfg = board_config(role, mosquitto.port, **{**fast, **overrides})
        hub.add_device(cfg["device_id"], cfg["key"])
        board = SimBoard(cfg, micropython=micropython_bin, romfs=romfs)
        boards.append(board)
        if start:
            mark = len(hub.received)
            board.start()
            hub.wait_for(lambda r: r.device_id == cfg["device_id"] and r.msg["type"] == "hello",
                         after=mark)
        return board

    yield make
    for board in boards:
        board.close()
        # Captured by pytest and shown only when the test failed: what the board said last.
        print(f"--- console of board {board.config and board.config['device_id']}:")
        print("\n".join(board.lines[-40:]))


def event(name: str, value: int | None = None) -> Callable[[Received], bool]:
    """Matches a first delivery (not a resend) of event ``name`` (with ``value`` if given)."""
    return lambda r: (r.msg["type"] == "event" and r.msg["event"] == name and not r.duplicate
                      and (value is None or r.msg.get("value") == value))


def command(hub: HubSide, board: SimBoard, name: str, **fields: Any) -> Received:
    """Send a hub command to the board and return its command_result."""
    assert board.config is not None
    command_id = next(_command_ids)
    hub.send(board.config["device_id"], {"type": "command", "command_id": command_id,
                                         "command": name, **fields})
    return hub.wait_for(lambda r: r.msg["type"] == "command_result"
                        and r.msg["command_id"] == command_id and not r.duplicate)
