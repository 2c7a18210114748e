"""Each device's state events in the device's own order.

The store holds events in the order they arrived, which is not always the order the device made
them: a device resends a frame until it is acked, so a hub killed after receiving a smoke alarm
but before storing it gets that alarm again *after* the device's later "clear" was stored. The
device's sequence number (one counter per device, never reused; protocol/sequence.py) is the
device's own order.

A state event -- smoke alarm/clear, bed in/out, door open/close, a dose's due/taken/missed, the
dispenser's problems, a heartbeat's battery and stock, a tamper and the restart that ends it --
belongs to a channel of its device. One older than the newest event already applied on its
channel is *history*: it happened, but it does not change the state the newer event set. Live
operation and a replay of the store see the same arrival order, so both decide the same.
Motion and calls for help are not states: motion is placed by its time, and a call for help is
acted on however late it arrives.
"""

from __future__ import annotations

from .model import State

SMOKE = "smoke"
SMOKE_LINE = "smoke_line"
BED = "bed"
DOOR = "door"
DISPENSER = "dispenser"  # jam, empty, low stock, and what ends them (a dose, a refill)
BATTERY = "battery"
TAMPER = "tamper"
TRIGGERS = "triggers"  # a motion unit's heartbeat trigger count


def dose_channel(dose: int) -> str:
    return f"dose{dose}"


def current(state: State, device_id: str, channel: str, seq: int | None) -> bool:
    """Whether an event with ``seq`` is current on ``channel`` of the device (not older than
    the newest applied there); records it when it is. Events without a sequence number (hub
    events) are always current."""
    if seq is None:
        return True
    applied = state.device(device_id).channel_seq
    newest = applied.get(channel)
    if newest is not None and seq < newest:
        return False
    applied[channel] = seq
    return True
