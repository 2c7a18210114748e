"""``trygg walktest``: the technician triggers every sensor; each device passes or fails.

Runs on the hub while ``trygg hub run`` is running. Shows every paired device of
the home with what to do to it, then follows the hub's store (what the hub
verified and stored, nothing less) and marks a device passed as soon as it
reports one of its role's pass events. Both, the hint and the pass events, are
the role's description (trygg.hub.roles, hub/roles/<role>.py).

Only an event stored after the walk test asked for it counts: the starting point
is the newest event in the store at the moment the technician is told to trigger
the devices ("trigger each device now"), so a device triggered before the walk
(a motion ten minutes ago, a resend from its outbox already stored) stays
waiting until it is triggered again.

When all have passed, or ``--timeout`` runs out, it sends a test alarm to every
configured alarm centre and shows the acknowledgement and round trip. Exit 0
only if every device passed and every centre acknowledged. With ``--json`` the
live lines go to stderr and stdout carries only the JSON result.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from trygg.hub.roles import roles

POLL_S = 0.3


def register(sub: Any) -> None:
    p = sub.add_parser("walktest", help="trigger every sensor; see each device pass; test the "
                       "alarm centre link")
    p.add_argument("--config", required=True, type=Path, help="the hub's TOML configuration")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="give up on devices not seen after this many seconds (default 600)")
    p.add_argument("--no-arc", action="store_true", help="skip the test alarm at the end")
    p.add_argument("--json", action="store_true", help="print one JSON result at the end")
    p.set_defaults(func=_command)


def walk(config_path: Path, timeout: float, say: Any) -> list[dict[str, Any]]:
    from trygg.hub import config as hub_config
    from trygg.hub.store import Store

    cfg = hub_config.load(config_path)
    store = Store(cfg.database)
    try:
        devices = store.devices()
        rows: dict[str, dict[str, Any]] = {
            d.device_id: {"device_id": d.device_id, "role": d.role, "room": d.room,
                          "zone": d.zone, "passed": False, "seen": None, "after_s": None}
            for d in devices}
        if not rows:
            return []
        described = roles()
        for r in rows.values():
            role = described.get(r["role"])
            say(f"  zone {r['zone']:3}  {r['role']:10} {r['room'] or '-':10} waiting: "
                f"{role.walk_hint if role else 'trigger it'}")
        # The starting point: everything stored until the technician is asked (the next line)
        # is from before the walk and passes nothing.
        start_id = store.last_event_id()
    finally:
        store.close()
    say("Trigger each device now (Ctrl-C to stop)")
    started = time.monotonic()
    last_id = start_id
    while time.monotonic() - started < timeout and not all(r["passed"] for r in rows.values()):
        time.sleep(POLL_S)
        store = Store(cfg.database)
        try:
            for e in store.events(after_id=last_id):
                last_id = e.id
                row = rows.get(e.device_id or "")
                if row is None or row["passed"]:
                    continue
                role = described.get(row["role"])
                if role is None:
                    continue
                # A role with nothing to trigger (the ESP-NOW bridge) passes on any frame of
                # its own after the walk began: it is alive and heard.
                if (e.type == "event" and e.name in role.pass_events) or (
                        not role.pass_events and e.type in ("hello", "heartbeat")):
                    row.update(passed=True, seen=e.name or e.type,
                               after_s=round(time.monotonic() - started, 1))
                    say(f"  zone {row['zone']:3}  {row['role']:10} {row['room'] or '-':10} "
                        f"PASSED: {row['seen']} after {row['after_s']} s")
        finally:
            store.close()
    for r in rows.values():
        if not r["passed"]:
            say(f"  zone {r['zone']:3}  {r['role']:10} {r['room'] or '-':10} FAILED: nothing "
                f"seen in {timeout:g} s (is it online? `trygg hub devices`)")
    return list(rows.values())


def test_alarm(config_path: Path) -> list[dict[str, Any]]:
    from trygg.hub import config as hub_config
    from trygg.hub.arc import run_test_alarm

    cfg = hub_config.load(config_path)
    if cfg.arc is None:
        return []
    results = asyncio.run(run_test_alarm(cfg.arc, cfg.arc_outbox_path))
    return [{"receiver": r.receiver, "address": r.address, "acknowledged": r.ok,
             "detail": r.detail, "round_trip_ms": r.round_trip_ms} for r in results]


def _command(args: argparse.Namespace) -> int:
    from trygg.hub import config as hub_config

    # Live lines as they happen (flushed: a technician, or a script, acts on them); with --json
    # on stderr, so that stdout is the JSON result alone.
    live = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=live, flush=True)

    try:
        say("Walk test: the paired devices and how to trigger each")
        devices = walk(args.config, args.timeout, say)
        centres = [] if args.no_arc else test_alarm(args.config)
    except hub_config.ConfigError as exc:
        print(f"trygg walktest: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("walk test stopped", file=sys.stderr)
        return 130
    for c in centres:
        rtt = f"{c['round_trip_ms']:.0f} ms" if c["round_trip_ms"] is not None else "-"
        say(f"test alarm to {c['receiver']} ({c['address']}): "
            f"{'ACKNOWLEDGED' if c['acknowledged'] else 'NOT acknowledged'} in {rtt} "
            f"({c['detail']})")
    ok = bool(devices) and all(d["passed"] for d in devices) and all(
        c["acknowledged"] for c in centres)
    if not devices:
        say("no paired devices: provision them first (trygg provision)")
    if args.json:
        print(json.dumps({"passed": ok, "devices": devices, "test_alarms": centres}))
    else:
        say("walk test " + ("PASSED" if ok else "NOT passed"))
    return 0 if ok else 1
