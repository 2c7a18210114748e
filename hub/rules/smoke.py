"""Smoke: the certified smoke alarm's relay is a fire alarm at once, at the highest priority,
whether or not anyone is home; cleared when the device reports clear. The alarm's own test
button ("smoke_test") is not a fire."""

from __future__ import annotations

from . import alarm_book
from .context import Context
from .model import FIRE, DeviceInfo, Event


def on_event(ctx: Context, device: DeviceInfo, ev: Event) -> None:
    if ev.name == "smoke_alarm":
        where = f" in {device.room}" if device.room else ""
        alarm_book.raise_alarm(ctx, FIRE, device.device_id, device.resident_id, device.device_id,
                               ev.id, (ev.id,), f"Smoke alarm{where}", device.room)
    elif ev.name == "smoke_clear":
        alarm_book.resolve_alarm(ctx, FIRE, device.device_id, "smoke alarm clear")
