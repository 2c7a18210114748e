"""``trygg walktest``: the technician triggers every sensor; each device passes or fails.

Runs on the hub while ``trygg hub run`` is running. Shows every paired device of
the home with what it must show to pass, then follows the hub's store (what the
hub verified and stored, nothing less) and marks a device passed as soon as it
reports its role's test event:

    motion     a motion (walk past it; door open/close also counts for the entrance)
    bed        in bed or out of bed (sit on the mat, get up)
    smoke      smoke_test (press the alarm's test button) or a real alarm/clear
    dispenser  any dispenser event (lift and replace the tray, or a dose event)

When all have passed, or ``--timeout`` runs out, it sends a test alarm to every
configured alarm centre and shows the acknowledgement and round trip. Exit 0
only if every device passed and every centre acknowledged.
"""

import argparse
import asyncio
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

PASS_EVENTS = {
    "motion": ("motion", "door_open", "door_close"),
    "bed": ("bed_in", "bed_out", "calibrated"),
    "smoke": ("smoke_test", "smoke_alarm", "smoke_clear"),
    "dispenser": ("dose_due", "dose_taken", "dose_missed", "dispenser_jam", "dispenser_empty",
                  "stock_low", "tamper", "button"),
}
HINT = {"motion": "walk past it",
        # firmware/config.py bed_enter_s (10 s): a shorter sit passes nothing
        "bed": "sit on the mat for 10 s (bed_enter_s), then get up",
        "smoke": "press the smoke alarm's test button", "dispenser": "lift and replace the tray"}
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
        start_id = max((e.id for e in store.events(since=time.time() - 1)), default=0)
    finally:
        store.close()
    rows: dict[str, dict[str, Any]] = {
        d.device_id: {"device_id": d.device_id, "role": d.role, "room": d.room, "zone": d.zone,
                      "passed": False, "seen": None, "after_s": None}
        for d in devices}
    if not rows:
        return []
    for r in rows.values():
        say(f"  zone {r['zone']:3}  {r['role']:9} {r['room'] or '-':10} waiting: "
            f"{HINT.get(r['role'], 'trigger it')}")
    started = time.monotonic()
    last_id = start_id
    while time.monotonic() - started < timeout and not all(r["passed"] for r in rows.values()):
        time.sleep(POLL_S)
        store = Store(cfg.database)
        try:
            for e in store.events(after_id=last_id):
                last_id = e.id
                row = rows.get(e.device_id or "")
                if row is None or e.type != "event" or row["passed"]:
                    continue
                if e.name in PASS_EVENTS.get(row["role"], ()):
                    row.update(passed=True, seen=e.name,
                               after_s=round(time.monotonic() - started, 1))
                    say(f"  zone {row['zone']:3}  {row['role']:9} {row['room'] or '-':10} "
                        f"PASSED: {e.name} after {row['after_s']} s")
        finally:
            store.close()
    for r in rows.values():
        if not r["passed"]:
            say(f"  zone {r['zone']:3}  {r['role']:9} {r['room'] or '-':10} FAILED: nothing "
                f"seen in {timeout:g} s (is it online? `trygg hub devices`)")
    return list(rows.values())


def test_alarm(config_path: Path) -> list[dict[str, Any]]:
    from trygg.hub import config as hub_config
    from trygg.hub.arc import load_arc_config, run_test_alarm

    cfg = hub_config.load(config_path)
    if not cfg.arc:
        return []
    arc = load_arc_config(cfg.arc, where=f"{cfg.source}: [arc]")
    outbox = Path(cfg.database).with_name("arc-outbox.sqlite")
    results = asyncio.run(run_test_alarm(arc, outbox))
    return [{"receiver": r.receiver, "address": r.address, "acknowledged": r.ok,
             "detail": r.detail, "round_trip_ms": r.round_trip_ms} for r in results]


def _command(args: argparse.Namespace) -> int:
    from trygg.hub import config as hub_config

    # Each line at once: the technician (or a script reading the output) triggers a device
    # when its "waiting" line is there.
    say: Any = (lambda *_a: None) if args.json else partial(print, flush=True)
    try:
        say("Walk test: trigger each device now (Ctrl-C to stop)")
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
