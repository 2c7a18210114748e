"""Calls for help that need no inference: the assistance button and a device-detected fall.

Raised at once. While the centre has not acknowledged the open alarm, another press adds
nothing (one open alarm per kind); once acknowledged, a new press is a new call: the old alarm
is resolved as superseded and a new one raised, so a later call is never swallowed by an old
alarm nobody closed.
"""

from __future__ import annotations

from . import alarm_book
from .context import Context
from .model import ASSISTANCE, DEVICE_FALL, DeviceInfo, Event


def on_event(ctx: Context, device: DeviceInfo, ev: Event) -> None:
    if ev.name == "button":
        kind, subject = ASSISTANCE, device.resident_id
        text = device.call_text or "Assistance button pressed"
    else:
        kind, subject, text = DEVICE_FALL, device.device_id, "Fall detected by device"
    if device.room:
        text += f" ({device.room})"
    for alarm in alarm_book.open_alarms(ctx, kind, subject):
        if alarm.acknowledged:
            alarm_book.resolve(ctx, alarm, "superseded by a new call")
    alarm_book.raise_alarm(ctx, kind, subject, device.resident_id, device.device_id, ev.id,
                           (ev.id,), text, device.room)


def on_cancel(ctx: Context, device: DeviceInfo, ev: Event) -> None:
    """The wearer cancels their call (a long press on the wearable button): the open
    assistance alarm that device raised is resolved, which the centre receives as a restore
    (hub/alarms.py), acknowledged or not -- an operator already calling back learns the
    wearer withdrew the call. Another device's call stays open: the cancel speaks for the
    call made with that button only."""
    for alarm in alarm_book.open_alarms(ctx, ASSISTANCE, device.resident_id):
        if alarm.device_id == device.device_id:
            alarm_book.resolve(ctx, alarm, "cancelled by the wearer")
