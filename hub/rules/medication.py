"""Medication: a missed dose, and the dispenser's technical problems.

A dose is missed when the dispenser reports it missed, or when no "dose_taken" follows
"dose_due" within ``dose_window_min``. A dose taken late resolves the missed-dose alarm. A jam,
an empty carousel or low stock (event, or heartbeat stock at or below ``stock_low_doses``) is a
technical notice; it is resolved by the next dose taken (jam) or a heartbeat showing stock above
the threshold again (empty, low stock: refilled).

Each dose, and the dispenser's problems, are judged in the device's own order
(``device_order``): a "dose due" that arrives after the same dose was taken does not open it
again, and a jam reported before a dose that was dispensed after it stays resolved.
"""

from __future__ import annotations

from . import alarm_book, device_order
from .context import Context
from .model import DISPENSER_PROBLEM, MISSED_DOSE, DeviceInfo, Event, ResidentState
from .resident import Resident

_PROBLEM_TEXT = {"dispenser_jam": ("jam", "Medicine dispenser jammed"),
                 "dispenser_empty": ("empty", "Medicine dispenser empty"),
                 "stock_low": ("stock_low", "Medicine dispenser stock low")}


def on_event(ctx: Context, resident: Resident, rs: ResidentState, device: DeviceInfo,
             ev: Event, at: float) -> None:
    name = ev.name
    dose = ev.value if ev.value is not None else 0
    d = device.device_id
    if name in _PROBLEM_TEXT:
        if device_order.current(ctx.state, d, device_order.DISPENSER, ev.seq):
            problem, text = _PROBLEM_TEXT[name]
            ctx.state.device(d).dispenser_problem = problem
            alarm_book.raise_alarm(ctx, DISPENSER_PROBLEM, d, resident.id, d, ev.id, (ev.id,),
                                   text, device.room)
        return
    if not device_order.current(ctx.state, d, device_order.dose_channel(dose), ev.seq):
        return  # this dose has moved on since (taken or missed): history
    if name == "dose_due":
        rs.doses_due[dose] = (at, ev.id)
    elif name == "dose_taken":
        rs.doses_due.pop(dose, None)
        alarm_book.resolve_alarm(ctx, MISSED_DOSE, resident.id, "dose taken")
        ds = ctx.state.device(d)
        if ds.dispenser_problem == "jam" and device_order.current(
                ctx.state, d, device_order.DISPENSER, ev.seq):
            ds.dispenser_problem = None
            alarm_book.resolve_alarm(ctx, DISPENSER_PROBLEM, device.device_id, "dose dispensed")
    elif name == "dose_missed":
        due = rs.doses_due.pop(dose, None)
        causes = (ev.id,) if due is None else (due[1], ev.id)
        alarm_book.raise_alarm(ctx, MISSED_DOSE, resident.id, resident.id, device.device_id,
                               causes[0], causes, f"Dose {dose} not taken (reported by "
                               "the dispenser)", device.room)


def on_heartbeat(ctx: Context, resident: Resident, device: DeviceInfo, ev: Event) -> None:
    stock = ev.body.get("stock")
    if not isinstance(stock, int) or not device_order.current(
            ctx.state, device.device_id, device_order.DISPENSER, ev.seq):
        return
    ds = ctx.state.device(device.device_id)
    if stock <= resident.thresholds.stock_low_doses:
        if ds.dispenser_problem is None:
            ds.dispenser_problem = "stock_low"
            alarm_book.raise_alarm(ctx, DISPENSER_PROBLEM, device.device_id, resident.id,
                                   device.device_id, ev.id, (ev.id,),
                                   f"Medicine dispenser stock low ({stock} doses)", device.room)
    elif ds.dispenser_problem in ("empty", "stock_low"):
        ds.dispenser_problem = None
        alarm_book.resolve_alarm(ctx, DISPENSER_PROBLEM, device.device_id, "refilled")


def on_tick(ctx: Context, resident: Resident, rs: ResidentState) -> None:
    if not rs.doses_due:
        return
    window = resident.thresholds.dose_window_min * 60.0
    for dose, (due_at, event_id) in sorted(rs.doses_due.items()):
        if ctx.now >= due_at + window:
            del rs.doses_due[dose]
            alarm_book.raise_alarm(ctx, MISSED_DOSE, resident.id, resident.id, None, event_id,
                                   (event_id,), f"Dose {dose} not taken within "
                                   f"{resident.thresholds.dose_window_min:g} min")
