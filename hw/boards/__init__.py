"""Board files: which GPIO each role's signals are wired to, per board.

A board file is a module ``hw/boards/<board>.py`` (board name with ``-`` as
``_``) defining ``PINS = {role: {signal: gpio}}`` plus the shared
``BATTERY_ADC`` GPIO and ``BATTERY_DIVIDER`` ratio, and ``POWER``: what powers the
board, ``"mains"`` or ``"battery"`` (its hello tells the hub, which raises low battery
only for a battery). Pin numbers live only
here (project rule); the HALs look signals up through :func:`pins_for`.
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

BOARDS = ("esp32-devkitc",)


def load(board: str) -> "Any":
    """The board module for ``board``; ValueError naming the known boards."""
    if board not in BOARDS:
        raise ValueError("unknown board %r (known: %s)" % (board, ", ".join(BOARDS)))
    name = board.replace("-", "_")
    return getattr(__import__("hw.boards." + name).boards, name)


def pins_for(board: str, role: str) -> "dict[str, int]":
    module = load(board)
    pins = module.PINS.get(role)
    if pins is None:
        raise ValueError("board %s has no wiring for role %r" % (board, role))
    return pins
