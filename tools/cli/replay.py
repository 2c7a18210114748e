"""``trygg hub replay`` and ``trygg hub export``: what the rules decide on a recorded home.

``replay RECORDING [--set NAME=VALUE ...] [--json]`` runs a recording (hub/replay/README.md)
through the hub's own store, alarm desk and rules in a temporary in-memory store and prints
the alarms that would have been raised, with times, causes and how each ended. It never opens
the hub's database and never forwards: live alarms are untouched. ``--set`` answers "with this
threshold, what would the last month have looked like?".

``export --since 30d --config hub.toml [-o FILE]`` writes the hub's store as a recording of what
its devices sent.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from trygg.hub import config as hub_config


def add_parsers(hsub: Any, with_config: Any) -> None:
    a = hsub.add_parser("replay", help="replay a recorded home through the rules: the alarms "
                        "that would have been raised (never touches live alarms)")
    a.add_argument("recording", type=Path, help="a recording (hub/replay/README.md), e.g. "
                   "from trygg hub export")
    a.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   dest="settings", help="override the home's configuration, e.g. "
                   "thresholds.still_ceiling_min=180 or latest_rise=11:00 (every resident), "
                   "<resident-id>.<key>=VALUE, hub.tick_s=5 (repeatable)")
    a.add_argument("--json", action="store_true", help="one JSON document "
                   "(hub/replay/README.md, output)")
    a.set_defaults(func=_replay)

    e = with_config("export", "write the hub's stored events as a recording for trygg hub "
                    "replay (what the devices sent)")
    e.add_argument("--since", default="30d",
                   help="ISO time (2025-01-31T06:00) or an age: 30m, 24h, 30d (default 30d)")
    e.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    e.set_defaults(func=_export)


def _fail(msg: str) -> int:
    print(f"trygg hub: {msg}", file=sys.stderr)
    return 2


def _replay(args: argparse.Namespace) -> int:
    from trygg.hub.replay import recording, runner

    logging.getLogger("trygg.hub.alarms").setLevel(logging.ERROR)
    try:
        rec = recording.load(args.recording)
        result = runner.replay(rec, args.settings)
    except (recording.RecordingError, hub_config.ConfigError) as exc:
        return _fail(str(exc))
    config = rec.config(args.settings)
    zones = {r.id: r.timezone for r in config.residents}
    if args.json:
        print(json.dumps(replay_document(rec, result, zones, str(args.recording)), indent=1))
        return 0
    print_replay(rec, result, zones)
    return 0


def replay_document(rec: Any, result: Any, zones: dict[str, str], name: str) -> dict[str, Any]:
    from collections import Counter

    from trygg.hub.replay.runner import local_time

    def zone_of(resident: str) -> str:
        return zones.get(resident, "UTC")

    return {
        "format": "trygg-replay", "version": 1,
        "recording": {"file": name, "source": rec.source, "derived": rec.derived,
                      "start": rec.start, "end": rec.end},
        "settings": list(result.settings),
        "alarms": [{
            "alarm_id": a.alarm_id, "kind": a.kind, "priority": a.priority,
            "resident_id": a.resident_id, "device_id": a.device_id, "room": a.room,
            "raised_at": a.raised_at, "raised_local": local_time(a.raised_at,
                                                                 zone_of(a.resident_id)),
            "description": a.description, "state": a.state,
            "resolved_at": a.resolved_at, "resolved_reason": a.resolved_reason,
            "causes": [{"event_id": c.event_id, "at": c.at,
                        "at_local": local_time(c.at, zone_of(a.resident_id)),
                        "device_id": c.device_id, "room": c.room, "event": c.what,
                        "value": c.value} for c in a.causes],
        } for a in result.alarms],
        "other_actions": [{"at": o.at, "type": o.type,
                           "fields": {k: v for k, v in o.fields.items()
                                      if isinstance(v, str | int | float | bool | type(None))}}
                          for o in result.other_actions],
        "counts": {"frames": result.frames, "hub_events": result.hub_events,
                   "ticks": result.ticks,
                   "alarms_by_kind": dict(Counter(a.kind for a in result.alarms))},
    }


def print_replay(rec: Any, result: Any, zones: dict[str, str]) -> None:
    from trygg.hub.replay.runner import local_time

    zone = next(iter(zones.values()), "UTC")
    print(f"Recording: {rec.source or rec.origin}")
    if rec.derived:
        print(f"  derived: {rec.derived}")
    print(f"  {local_time(rec.start, zone)} .. {local_time(rec.end, zone)} ({zone}), "
          f"{len(rec.devices)} devices, {result.frames} frames, {result.ticks} ticks")
    if result.settings:
        print("  settings: " + ", ".join(result.settings))
    print()
    if not result.alarms:
        print("No alarms would have been raised.")
    for a in result.alarms:
        z = zones.get(a.resident_id, zone)
        where = f" in {a.room}" if a.room else ""
        print(f"{local_time(a.raised_at, z)}  {a.kind} (priority {a.priority}){where}, "
              f"resident {a.resident_id}")
        print(f"    {a.description}")
        for c in a.causes:
            value = "" if c.value is None else f" {c.value}"
            print(f"    cause: {c.what}{value} at {local_time(c.at, z)} "
                  f"({c.device_id or 'hub'}{', ' + c.room if c.room else ''})")
        if a.resolved_at is not None:
            print(f"    resolved {local_time(a.resolved_at, z)}: {a.resolved_reason or '-'}")
        else:
            print(f"    still open at the end ({a.state})")
    if result.other_actions:
        print()
        print("Other actions of the rules:")
        for o in result.other_actions:
            print(f"  {local_time(o.at, zone)}  {o.type}")
    print()
    from collections import Counter

    counts = Counter(a.kind for a in result.alarms)
    print("Alarms: " + (", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"))


def _export(args: argparse.Namespace) -> int:
    from trygg.hub.replay import recording
    from trygg.hub.replay.export import export
    from trygg.hub.store import Store, StoreError

    from .hub import parse_since

    try:
        cfg = hub_config.load(args.config)
        now = time.time()
        since = parse_since(args.since, now)
        if not Path(cfg.database).exists():
            return _fail(f"{cfg.source}: hub.database: {cfg.database} does not exist")
        with Store(cfg.database) as store:
            rec = export(cfg, store, since, now)
    except (hub_config.ConfigError, StoreError, ValueError) as exc:
        return _fail(str(exc))
    if args.output is None:
        recording.write(rec, sys.stdout)
    else:
        try:
            recording.save(rec, args.output)
        except OSError as exc:
            return _fail(f"-o {args.output}: {exc.strerror or exc}")
        print(f"wrote {args.output}: {len(rec.devices)} devices, {len(rec.messages)} frames, "
              f"{len(rec.hub_events)} hub events", file=sys.stderr)
    return 0
