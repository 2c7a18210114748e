"""Device supervision: silence, low battery, tamper, a smoke-line fault, rejected frames.

Silent: no frame of any kind for ``silent_heartbeats`` heartbeat intervals (EN 50136-1's idea of
supervised transmission paths, applied to the home's own sensors); resolved by the next frame.
Low battery below ``battery_low_mv``, cleared above ``battery_ok_mv`` (hysteresis), for a device
powered by a battery: a mains-powered one (its hello says ``power: mains``, from its board file)
reports its supply's voltage as health, which is no battery running down. Tamper is
resolved when the device restarts (a technician has opened and closed it: "hello"). A smoke-line
fault is resolved by "fault_clear". Repeated rejected frames come from the ingest as hub events.
"""

from __future__ import annotations

from . import alarm_book, device_order
from .context import Context
from .model import (
    DEVICE_SILENT,
    HUB_REJECTED_FRAMES,
    LOW_BATTERY,
    REJECTED_FRAMES,
    SENSORS_UNREACHABLE,
    SMOKE_FAULT,
    TAMPER,
    DeviceInfo,
    Event,
)
from .resident import Resident, Thresholds


def on_frame(ctx: Context, device: DeviceInfo, ev: Event, at: float) -> None:
    ds = ctx.state.device(device.device_id)
    if ds.last_frame_at is None:
        ctx.state.silence_generation = -1  # first frame: its deadline may be before pairing's
    if ds.last_frame_at is None or at >= ds.last_frame_at:
        ds.last_frame_at = at
        ds.last_frame_event = ev.id
    if ev.type == "hello" and "power" in ev.body:
        ds.power = ev.body["power"]
    # A restart ends a tamper; an older restart, resent late, does not end a newer tamper.
    restarted = ev.type == "hello" and device_order.current(
        ctx.state, device.device_id, device_order.TAMPER, ev.seq)
    if not ctx.state.open_alarms:
        return
    alarm_book.resolve_alarm(ctx, DEVICE_SILENT, device.device_id, "heard again")
    if restarted:
        alarm_book.resolve_alarm(ctx, TAMPER, device.device_id, "device restarted")


def on_event(ctx: Context, device: DeviceInfo, ev: Event) -> None:
    d = device.device_id
    channel = device_order.TAMPER if ev.name == "tamper" else device_order.SMOKE_LINE
    if not device_order.current(ctx.state, d, channel, ev.seq):
        return  # history: a restart or a later fault report has superseded it
    if ev.name == "tamper":
        alarm_book.raise_alarm(ctx, TAMPER, d, device.resident_id, d, ev.id, (ev.id,),
                               f"Device {d} opened or moved", device.room)
    elif ev.name == "smoke_fault":
        alarm_book.raise_alarm(ctx, SMOKE_FAULT, d, device.resident_id, d, ev.id, (ev.id,),
                               "Smoke alarm line fault", device.room)
    elif ev.name == "fault_clear":
        alarm_book.resolve_alarm(ctx, SMOKE_FAULT, d, "line fault cleared")


def on_heartbeat(ctx: Context, resident: Resident, device: DeviceInfo, ev: Event) -> None:
    mv = ev.body.get("battery_mv")
    if not isinstance(mv, int) or mv == 0:  # 0: mains powered, no battery to measure
        return
    if not device_order.current(ctx.state, device.device_id, device_order.BATTERY, ev.seq):
        return  # an older heartbeat: the battery has been measured since
    ds = ctx.state.device(device.device_id)
    # Its hello (this replay's, else the one the devices table kept past retention) says what
    # powers it; a device that never said (older firmware) is held to the battery rule.
    if (ds.power or device.power) == "mains":
        return
    limits = battery_limits(resident.thresholds, device.cell)
    if limits is None:
        return
    low, ok = limits
    if mv < low and not ds.battery_low:
        ds.battery_low = True
        alarm_book.raise_alarm(ctx, LOW_BATTERY, device.device_id, device.resident_id,
                               device.device_id, ev.id, (ev.id,),
                               f"Battery low ({mv} mV)", device.room)
    elif mv > ok and ds.battery_low:
        ds.battery_low = False
        alarm_book.resolve_alarm(ctx, LOW_BATTERY, device.device_id, "battery replaced")


def battery_limits(t: Thresholds, cell: str) -> tuple[int, int] | None:
    """(low below, cleared above) in mV for a battery of ``cell``; None: the role has no
    battery (the bridge on the hub's USB port)."""
    if cell == "none":
        return None
    if cell == "aa_alkaline":
        return t.aa_low_mv, t.aa_ok_mv
    if cell == "coin_cell":
        return t.coin_cell_low_mv, t.coin_cell_ok_mv
    return t.battery_low_mv, t.battery_ok_mv


def on_hub_event(ctx: Context, device: DeviceInfo, ev: Event) -> None:
    d = device.device_id
    if ev.name == HUB_REJECTED_FRAMES:
        alarm_book.raise_alarm(ctx, REJECTED_FRAMES, d, device.resident_id, d, ev.id, (ev.id,),
                               f"Repeated rejected frames from device {d}", device.room)
    else:
        alarm_book.resolve_alarm(ctx, REJECTED_FRAMES, d, "no rejections for a window")


def on_broker(ctx: Context, ev: Event, lost: bool) -> None:
    """The hub lost its MQTT broker (or has it back): no sensor of any resident is heard, so
    every resident's centre learns it now rather than as one "device silent" per sensor much
    later -- and not from link supervision, which says the hub itself is fine."""
    for resident_id in ctx.config.residents:
        if lost:
            alarm_book.raise_alarm(ctx, SENSORS_UNREACHABLE, resident_id, resident_id, None,
                                   ev.id, (ev.id,), "The hub cannot reach its message broker: "
                                   "no sensor in the home is heard")
        else:
            alarm_book.resolve_alarm(ctx, SENSORS_UNREACHABLE, resident_id, "broker reached")


def on_tick(ctx: Context) -> None:
    now = ctx.now
    state = ctx.state
    if state.silence_generation == ctx.generation and now < state.silence_check_at:
        return  # frames only move deadlines later: nothing can be due before the cached one
    residents = ctx.config.residents
    earliest = float("inf")
    for device in ctx.config.devices.values():
        resident = residents.get(device.resident_id)
        if resident is None:
            continue
        ds = ctx.state.device(device.device_id)
        interval = device.heartbeat_s or resident.thresholds.heartbeat_s
        last = ds.last_frame_at if ds.last_frame_at is not None else device.paired_at
        due = last + resident.thresholds.silent_heartbeats * interval
        if now < due:
            earliest = min(earliest, due)
        else:
            episode = ds.last_frame_event if ds.last_frame_at is not None else -int(last)
            alarm_book.raise_alarm(ctx, DEVICE_SILENT, device.device_id, device.resident_id,
                                   device.device_id, episode, (ds.last_frame_event,),
                                   f"No frame from device {device.device_id} "
                                   f"({device.role}) for {(now - last) / 60:.0f} min",
                                   device.room)
    state.silence_check_at = earliest
    state.silence_generation = ctx.generation
