"""``trygg hub ...``: run the hub service and look into its store.

Readable tables by default, ``--json`` for scripts. Keys and broker passwords are never printed:
``pair`` takes a key from a file or writes a generated one to a file (mode 0600).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trygg.hub import config as hub_config
from trygg.hub.roles import command_problem, roles

if TYPE_CHECKING:
    from trygg.hub.store import Store


def register(sub: Any) -> None:
    p = sub.add_parser("hub", help="run the hub service; list devices, events, alarms")
    hsub = p.add_subparsers(dest="hub_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        a: argparse.ArgumentParser = hsub.add_parser(name, help=help_text)
        a.add_argument("--config", required=True, help="the hub's TOML configuration")
        return a

    a = add("run", "run the hub service (ingest, rules, commands, discovery)")
    a.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    a.set_defaults(func=_run)

    a = add("check-config", "validate the configuration and exit (`doctor` checks the running "
            "installation)")
    a.set_defaults(func=_check_config)

    from trygg.tools.cli import doctor

    doctor.register(hsub, add)

    a = add("pair", "register a device and give it a broker login (in effect at once)")
    a.add_argument("device_id", help="the device id: 12 hex digits")
    a.add_argument("--role", required=True, choices=tuple(roles()),
                   help="what the device is: " + "; ".join(
                       f"{name}: {role.title}" for name, role in roles().items()))
    a.add_argument("--room", help="room name, e.g. bathroom (1-16 bytes)")
    a.add_argument("--resident", help="resident id (needed when several are configured)")
    a.add_argument("--zone", type=int, help="ARC zone 1..998 (default: next free)")
    key = a.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-file", type=Path, help="read the 32-byte key (64 hex digits) here")
    key.add_argument("--new-key-file", type=Path,
                     help="generate a key and write it here (mode 0600) for provisioning")
    a.set_defaults(func=_pair)

    a = add("unpair", "remove a device; the broker ends its login and session at once")
    a.add_argument("device_id")
    a.set_defaults(func=_unpair)

    a = add("broker", "write mosquitto's configuration and give the broker the hub's and the "
            "paired devices' logins (verified when it runs, else at its next start)")
    a.set_defaults(func=_broker)

    a = add("devices", "list paired devices")
    a.add_argument("--json", action="store_true", help="one JSON document")
    a.set_defaults(func=_devices)

    a = add("events", "list stored events")
    a.add_argument("--since", default="24h",
                   help="ISO time (2025-01-31T06:00) or an age: 30m, 24h, 7d (default 24h)")
    a.add_argument("--device", help="only this device")
    a.add_argument("--limit", type=int, default=200)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_events)

    a = add("alarms", "list alarms (newest first)")
    a.add_argument("--open", action="store_true", help="only alarms not resolved")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_alarms)

    a = add("rejections", "rejected frames per device and reason")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_rejections)

    a = add("resolve", "close an alarm by hand (stored as an event the rules replay)")
    a.add_argument("alarm_id")
    a.set_defaults(func=_resolve)

    a = add("away", "mark a resident away (hospital, holiday) or home again")
    a.add_argument("state", choices=("on", "off"))
    a.add_argument("--resident", help="resident id (needed when several are configured)")
    a.set_defaults(func=_away)

    a = add("test-alarm", "send a test report (SIA RX / Contact ID 601) to every ARC "
            "receiver in [arc]; print each one's ACK and round trip")
    a.add_argument("--json", action="store_true", help="one JSON document")
    a.set_defaults(func=_test_alarm)

    a = add("command", "send a command to a device through the running hub, and show its "
            "answer", )
    a.description = command_help()
    a.formatter_class = argparse.RawDescriptionHelpFormatter
    a.add_argument("device_id")
    a.add_argument("json", help='the command as JSON, e.g. \'{"command": "identify", '
                   '"seconds": 5}\' (the forms are listed above)')
    a.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                   help="wait this long for the device's answer (default 30; 0: only queue "
                        "it; the hub keeps retrying a device that is offline)")
    a.set_defaults(func=_command)

    from . import replay

    replay.add_parsers(hsub, add)


COMMAND_HELP = """\
Send a command to a device: the running hub sends it, retries it until the device answers
(doubling from [commands] retry_initial_s), and gives up after [commands] expire_s.
The forms:

  {"command": "identify", "seconds": 5}           blink and beep (1-600 s)
  {"command": "reboot"}
  {"command": "set_config", "config": {"heartbeat_s": 60, "room": "hall"}}
      the settings a hub may change (protocol/trygg.cddl, config): {settings};
      the device refuses a setting of another role and says why
  {"command": "calibrate", "reference": "empty"}   bed: what the mat holds now (or "occupied")
  {"command": "set_dose_schedule", "doses": [[480, 1], [1200, 2]]}
      dispenser: up to 8 doses a day, [minute of the day (local), dose id 0-255]
  (set_time is sent by the hub itself.)

The answer is the device's: ok, rejected (with why), unsupported, failed, or expired.
"""


def command_help() -> str:
    """COMMAND_HELP with the settings a hub may change, from the protocol's own table."""
    import textwrap

    from trygg.protocol import messages

    def one(name: str, kind: str, lo: int, hi: int) -> str:
        if kind == "bool":
            return f"{name} true/false"
        if kind == "tstr":
            return f"{name} ({lo}-{hi} bytes)"
        return f"{name} {lo}-{hi}"

    settings = ", ".join(one(name, kind, lo, hi)
                         for name, (_key, kind, lo, hi) in messages.CONFIG_KEYS.items())
    text = COMMAND_HELP.replace("{settings}", settings)
    return "\n".join(textwrap.fill(line, 92, subsequent_indent="      ")
                     if len(line) > 92 else line for line in text.split("\n"))


def _fail(msg: str) -> int:
    print(f"trygg hub: {msg}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace) -> hub_config.HubConfig:
    return hub_config.load(args.config)


def _open_store(cfg: hub_config.HubConfig) -> Store:
    """The hub's database for one command (``with _open_store(cfg) as store:``); imported
    here so that commands that do not need it start faster."""
    from trygg.hub.store import Store

    return Store(cfg.database)


def _guard(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        from trygg.hub.broker import BrokerError
        from trygg.hub.instance_lock import HubAlreadyRunning
        from trygg.hub.pairing import PairingError
        from trygg.hub.store import StoreError

        try:
            code: int = fn(args)
            return code
        except (hub_config.ConfigError, PairingError, StoreError, BrokerError,
                HubAlreadyRunning, ValueError) as exc:
            return _fail(str(exc))
    return wrapped


@_guard
def _check_config(args: argparse.Namespace) -> int:
    cfg = _load(args)
    arc = cfg.arc_config()
    print(f"{cfg.source}: ok ({len(cfg.residents)} resident(s), "
          + (f"{len(arc.receivers)} alarm centre receiver(s))" if arc else "no [arc])"))
    if arc is None:
        print(f"{cfg.source}: WARNING: no [arc] section: alarms are stored but NOT forwarded "
              "to any alarm receiving centre; add one (hub/arc/README.md, Receiver "
              "configuration)", file=sys.stderr)
    print(f"checked the file only; `trygg hub doctor --config {cfg.source}` checks the broker, "
          "the centres, the devices and the clock")
    return 0


@_guard
def _run(args: argparse.Namespace) -> int:
    from trygg.hub.service import HubService

    cfg = _load(args)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = HubService(cfg)  # with the ARC forwarder when [arc] is configured
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(service.run())
    return 0


@_guard
def _pair(args: argparse.Namespace) -> int:
    from trygg.hub.pairing import pair_device

    cfg = _load(args)
    key: bytes | None = None
    if args.key_file is not None:
        try:
            text = args.key_file.read_text().strip()
        except OSError as exc:
            return _fail(f"--key-file {args.key_file}: cannot read: {exc.strerror}")
        try:
            key = bytes.fromhex(text)
        except ValueError:
            return _fail(f"--key-file {args.key_file}: not hex")
    elif args.new_key_file.exists():
        return _fail(f"--new-key-file {args.new_key_file}: exists; not overwriting a key")
    with _open_store(cfg) as store:
        device, key = pair_device(cfg, store, args.device_id, args.role, args.room, key,
                                  args.resident, args.zone)
    if args.new_key_file is not None:
        fd = os.open(args.new_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
    print(f"paired {device.device_id} ({device.role}, room {device.room or '-'}, zone "
          f"{device.zone}, resident {device.resident_id}); the broker lets it log in now")
    return 0


@_guard
def _unpair(args: argparse.Namespace) -> int:
    from trygg.hub.pairing import unpair_device

    cfg = _load(args)
    with _open_store(cfg) as store:
        unpair_device(cfg, store, args.device_id)
    print(f"unpaired {args.device_id.lower()}: the broker ended its login and session; the hub "
          "no longer accepts its frames")
    return 0


@_guard
def _broker(args: argparse.Namespace) -> int:
    from trygg.hub.pairing import setup_broker

    cfg = _load(args)
    with _open_store(cfg) as store:
        message, _report = setup_broker(cfg, store)
    print(message)
    return 0


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def silent_after(cfg: hub_config.HubConfig, device: Any) -> float:
    """Seconds without a frame after which the hub counts ``device`` silent: the device
    supervision rule's (``silent_heartbeats`` x its heartbeat interval)."""
    try:
        t = cfg.resident(device.resident_id).thresholds
    except KeyError:
        t = hub_config.Thresholds()
    return float(t.silent_heartbeats * (device.heartbeat_s or t.heartbeat_s))


def is_online(cfg: hub_config.HubConfig, device: Any, now: float) -> bool:
    """Heard within the time after which the hub would raise "device silent"."""
    return device.last_seen is not None and now - device.last_seen < silent_after(cfg, device)


@_guard
def _devices(args: argparse.Namespace) -> int:
    cfg = _load(args)
    now = time.time()
    with _open_store(cfg) as store:
        paired = store.devices()
    devices = [dict(d.public(), online=is_online(cfg, d, now)) for d in paired]
    if args.json:
        print(json.dumps(devices, indent=1))
        return 0
    _table([[d["device_id"], d["role"], d["room"] or "-", str(d["zone"]), d["resident_id"],
             "yes" if d["online"] else ("never heard" if d["last_seen"] is None else "NO"),
             d["firmware"] or "-", _when(d["last_seen"]),
             "-" if d["heartbeat_s"] is None else f"{d['heartbeat_s']:g} s",
             d["power"] or "-",
             "-" if d["battery_mv"] is None else str(d["battery_mv"]),
             "-" if d["rssi"] is None else str(d["rssi"])] for d in devices],
           ["DEVICE", "ROLE", "ROOM", "ZONE", "RESIDENT", "ONLINE", "FIRMWARE", "LAST SEEN",
            "HEARTBEAT", "POWER", "mV", "RSSI"])
    return 0


def parse_since(text: str, now: float) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return now - float(text[:-1]) * units[text[-1]]
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: use an ISO time (2025-01-31T06:00) or an age "
                         "such as 30m, 24h, 7d") from None
    if t.tzinfo is None:
        t = t.astimezone()
    return t.timestamp()


@_guard
def _events(args: argparse.Namespace) -> int:
    since = parse_since(args.since, time.time())
    with _open_store(_load(args)) as store:
        events = list(store.events(since=since, device_id=args.device, limit=args.limit))
    if args.json:
        print(json.dumps([{"id": e.id, "received_at": e.received_at, "device_id": e.device_id,
                           "seq": e.seq, "type": e.type, "name": e.name, "value": e.value,
                           "body": e.body} for e in events], indent=1))
        return 0
    _table([[str(e.id), _when(e.received_at), e.device_id or "hub", str(e.seq or "-"), e.type,
             e.name or "-", "-" if e.value is None else str(e.value)] for e in events],
           ["ID", "RECEIVED", "DEVICE", "SEQ", "TYPE", "EVENT", "VALUE"])
    return 0


@_guard
def _alarms(args: argparse.Namespace) -> int:
    with _open_store(_load(args)) as store:
        alarms = store.alarms(open_only=args.open)
    if args.json:
        print(json.dumps(alarms, indent=1))
        return 0
    _table([[a["alarm_id"], a["kind"], str(a["priority"]), a["state"], _when(a["raised_at"]),
             a["description"], ",".join(map(str, a["cause_event_ids"]))] for a in alarms],
           ["ALARM", "KIND", "PRIO", "STATE", "RAISED", "DESCRIPTION", "CAUSES"])
    return 0


@_guard
def _rejections(args: argparse.Namespace) -> int:
    with _open_store(_load(args)) as store:
        rows = store.rejections()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    _table([[r["device_id"] or "(unknown)", r["reason"], str(r["count"]), _when(r["last_at"])]
            for r in rows], ["DEVICE", "REASON", "COUNT", "LAST"])
    return 0


def _resident_id(cfg: hub_config.HubConfig, given: str | None) -> str:
    if given is None:
        if len(cfg.residents) != 1:
            raise ValueError("several residents are configured: name one with --resident")
        return cfg.residents[0].id
    cfg.resident(given)
    return given


@_guard
def _resolve(args: argparse.Namespace) -> int:
    from trygg.hub.rules.model import HUB_RESOLVE_ALARM

    cfg = _load(args)
    with _open_store(cfg) as store:
        rows = [a for a in store.alarms() if a["alarm_id"] == args.alarm_id]
        if not rows:
            return _fail(f"no alarm {args.alarm_id!r} (see `trygg hub alarms`)")
        store.add_hub_event(HUB_RESOLVE_ALARM, time.time(), rows[0]["resident_id"],
                            detail={"alarm_id": args.alarm_id})
    print(f"resolve of {args.alarm_id} stored; the running hub applies it")
    return 0


@_guard
def _away(args: argparse.Namespace) -> int:
    from trygg.hub.rules.model import HUB_AWAY_OFF, HUB_AWAY_ON

    cfg = _load(args)
    try:
        resident = _resident_id(cfg, args.resident)
    except KeyError:
        return _fail(f"--resident {args.resident!r} is not in {cfg.source}")
    with _open_store(cfg) as store:
        store.add_hub_event(HUB_AWAY_ON if args.state == "on" else HUB_AWAY_OFF, time.time(),
                            resident)
    print(f"resident {resident}: away {args.state}")
    return 0


@_guard
def _command(args: argparse.Namespace) -> int:
    from trygg.protocol import messages
    from trygg.protocol.errors import ProtocolError

    try:
        body = json.loads(args.json)
    except json.JSONDecodeError as exc:
        return _fail(f"command JSON: {exc}")
    if not isinstance(body, dict) or "command" not in body:
        return _fail('command JSON must be an object with "command"')
    probe = dict(body, type="command", command_id=0)
    if probe.get("command") == "set_time":
        probe.update(time=0, utc_offset_min=0)
    try:
        messages.to_wire(probe)
    except ProtocolError as exc:
        return _fail(f"command: {exc}")
    cfg = _load(args)
    with _open_store(cfg) as store:
        device = store.device(args.device_id)
        if device is None:
            return _fail(f"device {args.device_id} is not paired")
        problem = command_problem(device.role, body)
        if problem is not None:
            return _fail(f"command for {args.device_id}: {problem}")
        command_id = store.add_command(args.device_id, body, time.time())
    print(f"command {command_id} queued for {args.device_id}; the running hub sends it")
    if args.wait <= 0:
        return 0
    from trygg.hub.instance_lock import running_pid

    if running_pid(cfg.database) is None:
        print("the hub service is not running: the command waits until it runs (sudo "
              "systemctl start trygg-hub)", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        with _open_store(cfg) as store:
            row = next((c for c in store.commands() if c["command_id"] == command_id), None)
        if row is not None and row["state"] != "pending":
            detail = f": {row['detail']}" if row.get("detail") else ""
            print(f"command {command_id}: {row['state']}{detail}")
            return 0 if row["state"] == "ok" else 1
        time.sleep(0.25)
    print(f"command {command_id}: no answer within {args.wait:g} s; the hub keeps retrying "
          "(is the device online? `trygg hub devices`)", file=sys.stderr)
    return 1


@_guard
def _test_alarm(args: argparse.Namespace) -> int:
    from trygg.tools.cli.arc import hub_test_alarm

    return hub_test_alarm(args.config, as_json=args.json)
