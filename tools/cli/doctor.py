"""``trygg hub doctor``: is this hub installed and working? One line per check, each failure
with what to do.

Checked, in the order a technician would fix them: the configuration; the hub's files and who
may read them; the hub service; the broker (reachable, the hub's login, administrable, every
paired device's login with its current key); each alarm receiving centre (its name resolves,
it accepts a connection); each paired device (heard within the time after which the hub would
call it silent, with its heartbeat interval); the clock. Nothing is changed and no alarm or
test report is sent (`trygg hub test-alarm` does that). Exit status 0 when every check
passed, 1 when one failed, 2 when the configuration cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import stat
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trygg.hub import config as hub_config

# A receiver or broker on the same network answers a TCP connect in milliseconds; a centre
# over a mobile uplink in well under this.
CONNECT_TIMEOUT_S = 5.0
# The clock is wrong if it is before this (a Raspberry Pi without a real-time clock starts
# at its last shutdown or in 1970 until NTP has set it).
EARLIEST_SANE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def register(hsub: Any, add: Any) -> None:
    a = add("doctor", "check the installation: files, service, broker, alarm centres, devices, "
            "clock; one line per check with what to do")
    a.add_argument("--json", action="store_true", help="one JSON document")
    a.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    try:
        cfg = hub_config.load(args.config)
    except hub_config.ConfigError as exc:
        if args.json:
            print(json.dumps([asdict(Check("configuration", False, str(exc),
                                           "correct the key named"))]))
        else:
            print(f"FAIL configuration: {exc}")
        return 2
    checks = diagnose(cfg)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=1))
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}"
                  + (f"\n     -> {c.fix}" if not c.ok and c.fix else ""))
        failed = sum(not c.ok for c in checks)
        print(f"{len(checks) - failed} passed, {failed} failed", file=sys.stderr)
    return 0 if all(c.ok for c in checks) else 1


def diagnose(cfg: hub_config.HubConfig) -> list[Check]:
    checks = [Check("configuration", True, f"{cfg.source} is valid "
                    f"({len(cfg.residents)} resident(s))")]
    checks += _files(cfg)
    checks.append(_service(cfg))
    checks += _broker(cfg)
    checks += _receivers(cfg)
    checks += _devices(cfg)
    checks.append(_clock(cfg))
    return checks


def _private(path: Path, what: str, fix: str) -> Check:
    try:
        st = path.stat()
    except FileNotFoundError:
        return Check(what, False, f"{path} does not exist", fix)
    except OSError as exc:
        return Check(what, False, f"{path}: {exc.strerror}", "run as the hub's user")
    if st.st_uid != os.geteuid():
        return Check(what, False, f"{path} belongs to uid {st.st_uid}, not to this user",
                     "run as the hub's user (sudo -u trygg ...), or chown the file to it")
    if stat.S_IMODE(st.st_mode) & 0o077:
        return Check(what, False, f"{path} is readable by others "
                     f"(mode {stat.S_IMODE(st.st_mode):o})", f"chmod 600 {path}")
    if not os.access(path, os.R_OK | os.W_OK):
        return Check(what, False, f"{path}: cannot read and write it", "run as the hub's user")
    return Check(what, True, f"{path}, owner only")


def _files(cfg: hub_config.HubConfig) -> list[Check]:
    database = Path(cfg.database)
    checks = [_private(database, "database", "start the hub once (trygg hub run, or sudo "
                       "systemctl start trygg-hub): it creates the database")]
    if cfg.mqtt.password_file:
        checks.append(_private(Path(cfg.mqtt.password_file), "hub's broker password",
                               f"check [mqtt] password_file for a typo; on a new hub run "
                               f"`trygg hub broker --config {cfg.source}`"))
    conf = Path(cfg.broker.conf_file)
    if conf.exists():
        checks.append(Check("broker configuration", True, f"{conf} (written by trygg hub "
                            "broker)"))
    else:
        checks.append(Check("broker configuration", False, f"{conf} does not exist",
                            f"run `trygg hub broker --config {cfg.source}`, then restart "
                            "mosquitto (README: Install on a Raspberry Pi)"))
    return checks


def _service(cfg: hub_config.HubConfig) -> Check:
    from trygg.hub.instance_lock import running_pid

    pid = running_pid(cfg.database)
    if pid is None:
        return Check("hub service", False, f"no `trygg hub run` is using {cfg.database}",
                     "sudo systemctl start trygg-hub (journalctl -u trygg-hub says why it "
                     "stopped)")
    return Check("hub service", True, f"running (pid {pid})" if pid > 0 else "running")


def _connect(host: str, port: int) -> str | None:
    """None when ``host:port`` accepts a TCP connection, else why not."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except socket.gaierror as exc:
        return f"the name {host!r} does not resolve ({exc.strerror})"
    except TimeoutError:
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def _broker(cfg: hub_config.HubConfig) -> list[Check]:
    from trygg.hub import broker
    from trygg.hub.pairing import PairingError, broker_admin
    from trygg.hub.store import Store

    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    why = _connect(cfg.mqtt.host, cfg.mqtt.port)
    if why is not None:
        return [Check("broker reachable", False, f"{where}: {why}",
                      "is mosquitto running? sudo systemctl status mosquitto; start it with "
                      "sudo systemctl start mosquitto")]
    checks = [Check("broker reachable", True, f"{where} answers")]
    if not cfg.mqtt.password_file:
        checks.append(Check("broker login", False, "[mqtt] password_file is not set: the "
                            "broker lets anyone in, or the hub cannot log in",
                            "set [mqtt] password_file and run `trygg hub broker`"))
        return checks
    try:
        with Store(cfg.database) as store:
            devices = store.devices()
        with broker_admin(cfg) as admin:
            clients = admin.clients()
    except (PairingError, broker.BrokerError) as exc:
        return [*checks, Check("broker administrable", False, str(exc),
                               f"run `trygg hub broker --config {cfg.source}` and restart "
                               "mosquitto if it says so")]
    except Exception as exc:  # the database: permissions, a newer schema
        return [*checks, Check("broker administrable", False, f"{type(exc).__name__}: {exc}",
                               "run as the hub's user")]
    hub = broker.HubLogins(cfg.mqtt.username, "", cfg.hub_id)
    checks.append(Check("broker administrable", True, f"the hub's tools log in as "
                        f"{hub.admin_user!r} and manage device logins"))
    own = clients.get(hub.user, {})
    if own.get("clientid") != hub.client_id:
        checks.append(Check("hub login", False, f"the hub's login {hub.user!r} is not bound to "
                            f"its client id {hub.client_id!r}: a login holding its password "
                            "could take the running hub's session over",
                            f"run `trygg hub broker --config {cfg.source}`"))
    else:
        checks.append(Check("hub login", True, f"{hub.user!r} logs in only as {hub.client_id!r}"
                            ", and no other login can"))
    stale = [d.device_id for d in devices
             if clients.get(d.device_id, {}).get("textname")
             != broker.device_textname(broker.device_password(d.key))]
    if stale:
        checks.append(Check("device logins", False, f"{len(stale)} of {len(devices)} paired "
                            f"device(s) cannot log in with their key: {', '.join(stale)}",
                            f"run `trygg hub broker --config {cfg.source}`"))
    else:
        checks.append(Check("device logins", True, f"all {len(devices)} paired device(s) "
                            "can log in with their current key"))
    return checks


def _receivers(cfg: hub_config.HubConfig) -> list[Check]:
    arc = cfg.arc_config()
    if arc is None:
        return [Check("alarm centre", False, "no [arc] section: alarms are stored but not "
                      "forwarded to any alarm receiving centre",
                      "add [arc] with the centre's receivers (hub/arc/README.md, Receiver "
                      "configuration), then `trygg hub test-alarm`")]
    checks = []
    for rc in arc.receivers:
        name = f"alarm centre {rc.name}"
        where = f"{rc.host}:{rc.port}"
        if rc.protocol == "udp":
            try:
                socket.getaddrinfo(rc.host, rc.port, type=socket.SOCK_DGRAM)
            except socket.gaierror as exc:
                checks.append(Check(name, False, f"{where}: the name does not resolve "
                                    f"({exc.strerror})", "check [arc] host and the hub's DNS"))
                continue
            checks.append(Check(name, True, f"{where} (UDP: resolves; `trygg hub test-alarm` "
                                "shows whether it answers)"))
            continue
        why = _connect(rc.host, rc.port)
        checks.append(Check(name, why is None, f"{where}: {why or 'accepts connections'}",
                            "check [arc] host and port with the centre; a name that does not "
                            "resolve: the hub's DNS or a typo" if why else ""))
    return checks


def _devices(cfg: hub_config.HubConfig) -> list[Check]:
    from trygg.hub.store import Store
    from trygg.tools.cli.hub import silent_after

    try:
        with Store(cfg.database) as store:
            devices = store.devices()
    except Exception as exc:
        return [Check("devices", False, f"{cfg.database}: {exc}", "run as the hub's user")]
    if not devices:
        return [Check("devices", False, "none paired", "provision the home's devices "
                      "(trygg provision, tools/README.md)")]
    now = time.time()
    checks = []
    for d in devices:
        name = f"device {d.device_id} ({d.role}, {d.room or '-'}, zone {d.zone})"
        beat = (f"heartbeat {d.heartbeat_s:g} s" if d.heartbeat_s else
                "heartbeat interval not reported yet")
        limit = silent_after(cfg, d)
        if d.last_seen is None:
            checks.append(Check(name, False, f"never heard; {beat}",
                                "is it powered and in Wi-Fi range? Provision it again "
                                "(trygg provision) if it never came online"))
        elif now - d.last_seen >= limit:
            checks.append(Check(name, False, f"silent for {(now - d.last_seen) / 60:.0f} min "
                                f"(more than {limit / 60:g}); {beat}",
                                "check its power and Wi-Fi; `trygg hub rejections` shows "
                                "whether its frames are rejected"))
        else:
            checks.append(Check(name, True, f"online, heard {now - d.last_seen:.0f} s ago; "
                                f"{beat}"))
    return checks


def _clock(cfg: hub_config.HubConfig) -> Check:
    from trygg.hub.store import Store

    now = time.time()
    shown = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    fix = ("the hub's clock is wrong: enable time synchronisation (sudo timedatectl "
           "set-ntp true) and check the network; the centre rejects reports whose time "
           "is far off")
    if now < EARLIEST_SANE:
        return Check("clock", False, f"{shown} is in the past", fix)
    try:
        with Store(cfg.database) as store:
            newest = max((e.received_at for e in store.events(
                since=now + 60, limit=1)), default=None)
    except Exception:
        newest = None
    if newest is not None:
        return Check("clock", False, f"{shown}, but an event was stored at "
                     f"{dt.datetime.fromtimestamp(newest, dt.UTC):%Y-%m-%d %H:%M:%S} UTC: "
                     "the clock went back", fix)
    return Check("clock", True, shown)
