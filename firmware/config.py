"""Device configuration: the provisioning file, validated before anything runs.

``trygg provision`` writes ``/trygg.json`` over the serial line. Every key is
checked here and an error names the key, what is wrong and what to do; a device
with a missing or bad file stays in the "needs provisioning" state (main.py)
instead of crash-looping. Settings the hub later changes with ``set_config``
are kept in storage (firmware/tunables.py) and laid over the file at boot.

Keys (required unless a default is given):

    device_id      12 lowercase hex digits (the COSE kid, MQTT topic name)
    key            64 hex digits: the device's 256-bit HMAC key
    wifi_ssid      1..32 bytes;  wifi_password 0..63 bytes (empty: open network)
    broker_host    host name or IPv4 address; broker_port 1..65535 (default 1883)
    mqtt_username, mqtt_password   default: none (anonymous broker)
    role           one of protocol.messages.ROLES
    board          a board file in hw/boards (e.g. esp32-devkitc) that wires the
                   role's signals
    room           1..16 bytes, as the hub names rooms

Settings every device has are here: those the hub may change in DEFAULTS (names and
ranges in protocol.messages.CONFIG_KEYS), those local to the device (link and outbox
timing) in LOCAL_KEYS, each with the reason for its default. A role's own settings,
declared the same way, are its ``CONFIG`` (firmware/roles/base.py), with those of its link
(a battery role's ESP-NOW settings: ``EspNowLink.CONFIG`` in firmware/espnow.py); a setting
of another role is refused, naming the role's own.
"""

import json

from micropython import const

from protocol import messages
from protocol.errors import ProtocolError

from . import roles
from .tunables import OVERRIDES

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

FILE_NAME = "trygg.json"

# Defaults of the hub-settable tunables every device has (protocol.messages.CONFIG_KEYS).
DEFAULTS = {
    # The hub declares a device missing after a few missed heartbeats; 5 min keeps supervision
    # well inside the 20 min EN 50136-1 reporting class of a home alarm and costs ~300 frames/day.
    "heartbeat_s": 300,
    "battery_low_mv": 3300,
}

# Provisioning may set heartbeat_s and reminder_step_s below the hub's minimum of 10 s (test
# rigs, benchmarks); the hub's own set_config stays bound by protocol.messages.CONFIG_KEYS.
_PROVISIONING_RANGES = {"heartbeat_s": (1, 86400), "reminder_step_s": (1, 3600)}

# Device-local tunables: name -> (default, lo, hi). Reasons next to each.
LOCAL_KEYS = {
    # MQTT keepalive (MQTT 3.1.1 §3.1.2.10): the broker drops us after 1.5x this without traffic,
    # and we call the broker gone after 1.5x this without a packet from it.
    "mqtt_keepalive_s": (60, 5, 1200),
    # Reconnect backoff: from min, doubling to max, with jitter so that a house full of devices
    # does not hit a restarted broker in the same millisecond.
    "reconnect_min_ms": (500, 10, 60000),
    "reconnect_max_s": (60, 1, 3600),
    # Socket operations (connect, CONNACK, PUBACK, SUBACK) give up after this.
    "link_timeout_ms": (5000, 100, 60000),
    # Unacked frames are resent after resend_s, doubling to resend_max_s, until the hub acks.
    "resend_s": (30, 1, 3600),
    "resend_max_s": (600, 1, 86400),
    # Frames kept for the hub; beyond it heartbeats are dropped. 32 frames of <= 250 bytes is
    # 8 KB of flash and rides out a hub outage of over two hours at the default heartbeat.
    "outbox_max": (32, 4, 256),
    # Hardware watchdog: longer than the longest blocking call (DNS lookup, Wi-Fi connect).
    # At least three of the device's 1 s feeding ticks: at 1000 ms a tick a moment late
    # reset a healthy board, again after every boot (a reset loop while the hub was away).
    "watchdog_ms": (30000, 3000, 600000),
}

_HEX = "0123456789abcdef"


class ConfigError(Exception):
    """The configuration is missing or wrong; str() names the key and what to do."""


def _fail(key: str, why: str) -> ConfigError:
    return ConfigError("%s: %s: %s" % (FILE_NAME, key, why))


def _text(raw: "dict[str, Any]", key: str, lo: int, hi: int, default: "Any" = None) -> "Any":
    v = raw.get(key, default)
    if v is None and default is None and key not in raw:
        raise _fail(key, "missing")
    if v is None:
        return None
    if not isinstance(v, str):
        raise _fail(key, "must be text")
    n = len(v.encode())
    if not lo <= n <= hi:
        raise _fail(key, "%d bytes, allowed %d..%d" % (n, lo, hi))
    return v


def _hexstr(raw: "dict[str, Any]", key: str, digits: int) -> str:
    v = _text(raw, key, digits, digits)
    for c in v:
        if c not in _HEX:
            raise _fail(key, "must be %d lowercase hex digits" % digits)
    return v


def _uint(key: str, v: "Any", lo: int, hi: int) -> int:
    if not isinstance(v, int) or v is True or v is False or not lo <= v <= hi:
        raise _fail(key, "%r is not an integer in %d..%d" % (v, lo, hi))
    return v


def _role(raw: "dict[str, Any]") -> "Any":
    """The Role class of the file's role; ConfigError when it is not one."""
    name = raw.get("role")
    if name not in messages.ROLES:
        raise _fail("role", "%r is not a role (roles: %s)" % (name, ", ".join(messages.ROLES)))
    try:
        return roles.load(name)
    except ImportError:
        raise _fail("role", "this firmware has no module for role %r (firmware/roles/%s.py): "
                    "install the firmware that matches the hub" % (name, name)) from None


def _check_wiring(board: str, role: "Any") -> None:
    """Every signal the role claims is wired on the board (hw/boards/)."""
    from hw import boards

    try:
        pins = boards.pins_for(board, role.NAME)
    except ValueError as e:
        raise _fail("board", str(e)) from None
    for signal in role.SIGNALS:
        if signal not in pins:
            raise _fail("board", "board %s does not wire signal %r of role %s (add it to its "
                        "board file in hw/boards/)" % (board, signal, role.NAME))


def validate_tunables(values: "dict[str, Any]", provisioning: bool) -> None:
    """Check hub-settable tunables with the protocol's own schema (one source of ranges)."""
    settable = {}
    for name in values:
        if name not in messages.CONFIG_KEYS:
            raise _fail(name, "unknown setting")
        rng = _PROVISIONING_RANGES.get(name) if provisioning else None
        if rng is not None:
            _uint(name, values[name], rng[0], rng[1])
        else:
            settable[name] = values[name]
    if not settable:
        return
    try:
        messages.to_wire({"type": "command", "command_id": 0, "command": "set_config",
                          "config": settable})
    except ProtocolError as e:
        detail = e.detail
        if detail.startswith("command.config."):
            detail = detail[15:]
        raise ConfigError("%s: %s" % (FILE_NAME, detail)) from None


def parse(raw: "Any", overrides: "Any" = None) -> "dict[str, Any]":
    """Validate the provisioning file's content; return the full configuration.

    ``overrides`` (settings changed by the hub, already validated when received) are laid
    over the file. Raises ConfigError.
    """
    if not isinstance(raw, dict):
        raise ConfigError("%s: must be a JSON object" % FILE_NAME)
    cfg: dict[str, Any] = {}
    cfg["device_id"] = _hexstr(raw, "device_id", 12)
    cfg["key"] = _hexstr(raw, "key", 64)
    role = _role(raw)
    link: Any = getattr(role, "link", None)
    if link is None:  # Wi-Fi (firmware/roles/base.py)
        cfg["wifi_ssid"] = _text(raw, "wifi_ssid", 1, 32)
        cfg["wifi_password"] = _text(raw, "wifi_password", 0, 63)
        cfg["broker_host"] = _text(raw, "broker_host", 1, 253)
        cfg["broker_port"] = _uint("broker_port", raw.get("broker_port", 1883), 1, 65535)
        cfg["mqtt_username"] = _text(raw, "mqtt_username", 0, 64, "")
        cfg["mqtt_password"] = _text(raw, "mqtt_password", 0, 128, "")
    own = role.CONFIG
    if hasattr(link, "CONFIG"):  # the link's own settings (firmware/espnow.py), under the role's
        own = dict(link.CONFIG)
        own.update(role.CONFIG)
    cfg["role"] = role.NAME
    cfg["board"] = _text(raw, "board", 1, 24)
    _check_wiring(cfg["board"], role)
    cfg["room"] = _text(raw, "room", 1, 16)
    tunables = {}
    for name in raw:
        if name in cfg:
            continue
        spec = LOCAL_KEYS.get(name) or own.get(name)
        if isinstance(spec, tuple):  # local to the device: (default, lo, hi)
            cfg[name] = _uint(name, raw[name], spec[1], spec[2])
        elif isinstance(spec, str):  # local to the device: as many hex digits as the default
            cfg[name] = _hexstr(raw, name, len(spec))
        elif name in DEFAULTS or name in own:
            tunables[name] = raw[name]
        elif name in messages.CONFIG_KEYS:
            raise _fail(name, "not a setting of a %s device (its own: %s)" % (
                role.NAME, ", ".join(own) or "none"))
        else:
            raise _fail(name, "unknown key (see firmware/config.py and firmware/roles/%s.py "
                        "for the keys)" % role.NAME)
    validate_tunables(tunables, True)
    for table in (LOCAL_KEYS, own, DEFAULTS):
        for name in table:
            if name not in cfg:
                spec = table[name]
                cfg[name] = spec[0] if isinstance(spec, tuple) else spec
    cfg.update(tunables)
    if isinstance(overrides, dict):
        for name in overrides:
            if name in cfg and name in messages.CONFIG_KEYS:
                cfg[name] = overrides[name]
    problem = role.conflict(cfg, {})
    if problem is not None:
        raise ConfigError("%s: %s" % (FILE_NAME, problem))
    return cfg


def load(path: str, storage: "Any") -> "dict[str, Any]":
    """Read and validate the provisioning file plus stored hub overrides. Raises ConfigError."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("%s not found: provision the device (trygg provision)" % path) from None
    try:
        raw = json.loads(text)
    except ValueError:
        raise ConfigError("%s is not valid JSON: provision the device again" % path) from None
    overrides = None
    stored = storage.read(OVERRIDES)
    if stored is not None:
        try:
            overrides = json.loads(stored)
            validate_tunables(overrides, False)
        except (ValueError, ConfigError) as e:
            # A damaged record must not brick the device: fall back to the provisioned values.
            print("config: ignoring stored hub settings (%s)" % (e,))
            overrides = None
    try:
        return parse(raw, overrides)
    except ConfigError:
        if overrides is None:
            raise
        print("config: stored hub settings conflict with %s, ignoring them" % path)
        return parse(raw)
