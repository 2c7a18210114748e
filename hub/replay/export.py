"""The hub's own store as a recording (``trygg hub export``): what the devices sent, per device.

Exported: the configuration that decides alarms (``[hub]`` id and tick, the residents with
their thresholds; never ``[arc]`` with its keys, nor broker or database paths), every paired
device (input ``events``), every stored frame of those devices in the period with its sequence
number, and the hub-made events that describe the resident or the devices (away on/off,
rejected frames). Left out, and counted in ``about.skipped``: a person closing an alarm and the
centre's acknowledgements (they name alarms of the live hub, which a replay numbers itself: its
own centre acknowledges every alarm), and frames of devices no longer paired.

A replay of an export starts without what happened before ``since`` (whether the resident was
in bed, when the last motion was): its first hours may differ from what the live hub decided.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from typing import Any

from ..config import HubConfig, Resident
from ..rules import model as rules_model
from ..store import Store
from .recording import DeviceSpec, HubRecord, Recording, SentMessage

EXPORTED_HUB_EVENTS = (rules_model.HUB_AWAY_ON, rules_model.HUB_AWAY_OFF,
                       rules_model.HUB_REJECTED_FRAMES, rules_model.HUB_REJECTED_FRAMES_CLEAR)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.time):
        return f'"{value:%H:%M}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise ValueError(f"export: {where}: no TOML form for {type(value).__name__}")


def config_toml(config: HubConfig) -> str:
    """The parts of a hub configuration a replay needs, as TOML the hub parses back to the same
    residents (every field of ``Resident`` and its ``Thresholds``, whatever they are)."""
    lines = ["[hub]", f"id = {_toml_value(config.hub_id, 'hub.id')}",
             f"tick_s = {_toml_value(config.tick_s, 'hub.tick_s')}"]
    if config.demo_profile:
        lines.append("demo_profile = true")
    for i, resident in enumerate(config.residents):
        lines += ["", "[[residents]]"]
        tables: list[tuple[str, Any]] = []
        for f in dataclasses.fields(Resident):
            value = getattr(resident, f.name)
            if dataclasses.is_dataclass(value):
                tables.append((f.name, value))
            else:
                lines.append(f"{f.name} = {_toml_value(value, f'residents[{i}].{f.name}')}")
        for name, table in tables:
            lines.append(f"[residents.{name}]")
            for g in dataclasses.fields(table):
                lines.append(f"{g.name} = "
                             + _toml_value(getattr(table, g.name),
                                           f"residents[{i}].{name}.{g.name}"))
    return "\n".join(lines) + "\n"


def export(config: HubConfig, store: Store, since: float, until: float) -> Recording:
    devices = store.devices()
    paired = {d.device_id for d in devices}
    specs = [DeviceSpec(d.device_id, d.role, d.room, d.resident_id, "events", d.zone,
                        d.heartbeat_s, {}, min(d.paired_at, until)) for d in devices]
    residents = {r.id for r in config.residents}
    specs = [s for s in specs if s.resident_id in residents]
    kept = {s.device_id for s in specs}
    messages: list[SentMessage] = []
    hub_events: list[HubRecord] = []
    skipped = Counter[str]()
    for ev in store.events(since=since, until=until):
        if ev.type == "hub":
            if ev.name in EXPORTED_HUB_EVENTS and (ev.resident_id is None
                                                   or ev.resident_id in residents):
                detail = {k: v for k, v in ev.body.items() if k not in ("type", "event")}
                hub_events.append(HubRecord(ev.received_at, str(ev.name), ev.resident_id,
                                            detail))
            else:
                skipped[f"hub:{ev.name}"] += 1
        elif ev.device_id in kept and ev.seq is not None:
            messages.append(SentMessage(ev.received_at, ev.device_id, ev.seq, dict(ev.body)))
        else:
            skipped["device not paired" if ev.device_id not in paired
                    else "device of another resident"] += 1
    return Recording(
        since, until, config_toml(config), specs, [], messages, hub_events,
        source=f"export of hub {config.hub_id} ({config.source})",
        about={"exported_at": until, "skipped": dict(skipped)})
