"""Smoke: the certified smoke alarm's relay is a fire alarm at once, at the highest priority,
whether or not anyone is home; cleared when the device reports clear. The alarm's own test
button ("smoke_test") is not a fire.

A smoke alarm that arrives after the device's later clear (resent after a hub restart) is
history: the centre still learns that the alarm went off -- a fire alarm raised and resolved at
once, "reported late, already clear" -- and the device's next alarm is a new fire alarm.
"""

from __future__ import annotations

from . import alarm_book, device_order
from .context import Context
from .model import FIRE, DeviceInfo, Event


def on_event(ctx: Context, device: DeviceInfo, ev: Event) -> None:
    d = device.device_id
    current = device_order.current(ctx.state, d, device_order.SMOKE, ev.seq)
    if ev.name == "smoke_alarm":
        if not current and alarm_book.is_open(ctx, FIRE, d):
            return  # an older alarm of the fire that is still open
        where = f" in {device.room}" if device.room else ""
        raised = alarm_book.raise_alarm(ctx, FIRE, d, device.resident_id, d, ev.id, (ev.id,),
                                        f"Smoke alarm{where}", device.room)
        if raised and not current:
            alarm_book.resolve_alarm(ctx, FIRE, d, "reported late, already clear")
    elif ev.name == "smoke_clear" and current:
        alarm_book.resolve_alarm(ctx, FIRE, d, "smoke alarm clear")
