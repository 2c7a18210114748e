"""Trygg messages: the schema of ``protocol/trygg.cddl`` as tables, sans I/O.

A message is a CBOR map with small integer keys on the wire and a dict with
readable names in code::

    {"type": "event", "uptime": 4711, "event": "motion", "value": 3}

``encode(msg)`` validates and serializes; ``decode(payload, direction)``
parses and validates. Both raise ``ProtocolError(SCHEMA)`` naming the field.
``trygg.cddl`` is the normative schema; the tests check every message this
module produces against it with two independent CDDL validators (pycddl, zcbor).

Keys 0..23 encode in one byte (RFC 8949 §3.1), which keeps a motion event
frame under 48 bytes.
"""

from . import cbor
from .cose import DOWN, UP
from .errors import SCHEMA, WRONG_DIRECTION, ProtocolError

# --- enumerations (wire value = index + 1 unless noted) --------------------

ROLES = ("motion", "bed", "smoke", "dispenser", "call_point", "battery_motion", "battery_bed",
         "button", "bridge")

# Why the device last started. Mirrors machine.reset_cause() on ESP32 plus
# brownout and panic, which esp32 reports through esp32.reset_cause-like means.
RESET_CAUSES = ("power_on", "hard", "watchdog", "deep_sleep", "soft", "brownout", "panic",
                "unknown")

EVENTS = (
    "motion",  # PIR triggered (after hold-off); value = triggers since last report
    "door_open",  # entrance reed contact opened
    "door_close",
    "bed_in",  # pressure above the entering threshold for the entering time
    "bed_out",
    "smoke_alarm",  # certified alarm's relay/interconnect active
    "smoke_clear",
    "smoke_test",  # test button on the alarm or the interface
    "smoke_fault",  # line fault: open or short circuit on the alarm line
    "fault_clear",  # line fault gone
    "dose_due",  # value = dose id
    "dose_taken",  # tray removed within the window; value = dose id
    "dose_missed",  # window passed without removal; value = dose id
    "dispenser_jam",
    "dispenser_empty",
    "stock_low",  # value = doses left
    "tamper",
    "button",  # assistance button on the device
    "fall",  # device-detected fall (e.g. a future fall sensor)
    "calibrated",  # bed calibration done; value = new reference level
    "cancel",  # the wearer cancels their call (a long press on the wearable button)
)

COMMANDS = ("set_config", "set_time", "set_dose_schedule", "identify", "reboot", "calibrate",
            "indicate", "prompt")

STATUSES = ("ok", "rejected", "unsupported", "failed")

CALIBRATE_REFERENCES = ("empty", "occupied")

# What powers the device (its board file's POWER, hw/boards/): a mains adapter, whose supply
# voltage is health telemetry, or a battery, whose voltage falling is a low-battery notice.
POWER_SOURCES = ("mains", "battery")

# Device configuration a hub may change with set_config. Wi-Fi, broker and key
# are written only at provisioning over the serial line, never over the air.
# name -> (wire key, kind, lo, hi)
CONFIG_KEYS = {
    "heartbeat_s": (1, "uint", 10, 86400),
    "motion_holdoff_s": (2, "uint", 0, 3600),
    "bed_enter_level": (3, "uint", 0, 65535),
    "bed_exit_level": (4, "uint", 0, 65535),
    "bed_enter_s": (5, "uint", 0, 600),
    "bed_exit_s": (6, "uint", 0, 600),
    "dose_window_min": (7, "uint", 1, 720),
    "reminder_step_s": (8, "uint", 10, 3600),
    "stock_low": (9, "uint", 0, 255),
    "door_contact": (10, "bool", 0, 1),
    "room": (11, "tstr", 1, 16),
    "battery_low_mv": (12, "uint", 0, 65535),
}

# --- message types ----------------------------------------------------------

HELLO = "hello"
EVENT = "event"
HEARTBEAT = "heartbeat"
COMMAND_RESULT = "command_result"
ACK = "ack"
COMMAND = "command"

# name -> (wire type, direction)
TYPES = {
    HELLO: (1, UP),
    EVENT: (2, UP),
    HEARTBEAT: (3, UP),
    COMMAND_RESULT: (4, UP),
    ACK: (16, DOWN),
    COMMAND: (17, DOWN),
}

MAX_UINT32 = 0xFFFFFFFF
MAX_ACK_RANGES = 8
MAX_DOSES = 8  # per day: a carousel with 28 slots holds a week at four doses a day
MAX_CONFIG_ITEMS = 16

# Field kinds: "uint" (lo..hi), "int" (lo..hi), "tstr" (length lo..hi bytes),
# "enum" (table), "bool", and composite kinds checked by dedicated code.
# Each field: (name, wire key, kind, required, lo or table, hi)
_COMMON_UP = (
    ("uptime", 1, "uint", True, 0, MAX_UINT32),  # seconds since boot
    ("time", 2, "uint", False, 0, MAX_UINT32),  # UTC epoch seconds, once set by the hub
)

FIELDS = {
    HELLO: _COMMON_UP
    + (
        ("firmware", 3, "tstr", True, 1, 16),
        ("role", 4, "enum", True, ROLES, 0),
        ("board", 5, "tstr", True, 1, 24),
        ("reset", 6, "enum", True, RESET_CAUSES, 0),
        # The device's heartbeat interval, so the hub's device supervision follows it (1 s at
        # the least: provisioning may set test intervals below set_config's 10 s).
        ("heartbeat_s", 7, "uint", False, 1, 86400),
        # What powers it (POWER_SOURCES): the hub raises low battery only for a battery.
        ("power", 8, "enum", False, POWER_SOURCES, 0),
    ),
    EVENT: _COMMON_UP
    + (
        ("event", 3, "enum", True, EVENTS, 0),
        ("value", 4, "int", False, -0x80000000, 0x7FFFFFFF),
    ),
    HEARTBEAT: _COMMON_UP
    + (
        ("battery_mv", 3, "uint", True, 0, 65535),
        ("rssi", 4, "int", True, -128, 0),
        ("free_heap", 5, "uint", True, 0, MAX_UINT32),
        ("outbox", 6, "uint", True, 0, 65535),  # frames waiting for an ack
        ("rejected", 7, "uint", True, 0, MAX_UINT32),  # commands rejected since boot
        ("level", 8, "uint", False, 0, 65535),  # bed: raw pressure level
        ("triggers", 9, "uint", False, 0, 65535),  # motion: PIR triggers since last report
        ("stock", 10, "uint", False, 0, 255),  # dispenser: doses left
        ("dropped", 11, "uint", False, 0, 65535),  # telemetry dropped from a full outbox
        ("heartbeat_s", 12, "uint", False, 1, 86400),  # interval now (set_config changes it)
    ),
    COMMAND_RESULT: _COMMON_UP
    + (
        ("command_id", 3, "uint", True, 0, MAX_UINT32),
        ("status", 4, "enum", True, STATUSES, 0),
        ("detail", 5, "tstr", False, 0, 32),
    ),
    ACK: (("ranges", 1, "ranges", True, 1, MAX_ACK_RANGES),),
    COMMAND: (
        ("command_id", 1, "uint", True, 0, MAX_UINT32),
        ("command", 2, "enum", True, COMMANDS, 0),
        ("config", 3, "config", False, 1, MAX_CONFIG_ITEMS),  # set_config
        ("time", 4, "uint", False, 0, MAX_UINT32),  # set_time: UTC epoch seconds
        ("utc_offset_min", 5, "int", False, -840, 840),  # set_time: local offset now
        ("doses", 6, "doses", False, 0, MAX_DOSES),  # set_dose_schedule
        ("seconds", 7, "uint", False, 1, 600),  # identify: blink/beep duration; prompt: how long
        ("reference", 8, "enum", False, CALIBRATE_REFERENCES, 0),  # calibrate
        # indicate: 1 the hub has stored the call's alarm, 2 the centre has acknowledged it.
        # A name every device has already (heap: tests/firmware/test_heap.py).
        ("level", 9, "uint", False, 1, 2),
    ),
}

# Which optional command fields each command needs (and allows).
COMMAND_FIELDS = {
    "set_config": ("config",),
    "set_time": ("time", "utc_offset_min"),
    "set_dose_schedule": ("doses",),
    "identify": ("seconds",),
    "reboot": (),
    "calibrate": ("reference",),
    "indicate": ("level",),  # how far the wearer's call has come: show it
    # The hub asks the resident to press if she is fine (a local check), for ``seconds``.
    "prompt": ("seconds",),
}

_KEY_TYPE = 0  # every message: {0: type, ...}

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing exists on CPython only; annotations are never evaluated on the device
    from typing import Any


def _fail(msg_type: str, name: str, why: str) -> ProtocolError:
    return ProtocolError(SCHEMA, "%s.%s: %s" % (msg_type, name, why))


def _name_of(table: "dict[str, Any]", code: "Any") -> "str | None":
    """The name in TYPES or CONFIG_KEYS whose wire code (first item of its spec) is ``code``.

    A search rather than a reverse dict: the tables are short, and a dict built at import
    would take heap on the device for as long as it runs.
    """
    if _check_uint(code, 0, MAX_UINT32):  # never True or False, which equal 1 and 0
        for name in table:
            if table[name][0] == code:
                return name
    return None


def _check_uint(v: "Any", lo: int, hi: int) -> bool:
    return isinstance(v, int) and v is not True and v is not False and lo <= v <= hi


def _to_wire(msg_type: str, name: str, kind: str, lo: "Any", hi: int, v: "Any") -> "Any":
    """Validate one field value given by name; return its wire form."""
    if kind == "uint" or kind == "int":
        if not _check_uint(v, lo, hi):
            raise _fail(msg_type, name, "%r not an integer in %d..%d" % (v, lo, hi))
        return v
    if kind == "tstr":
        if not isinstance(v, str):
            raise _fail(msg_type, name, "must be text")
        n = len(v.encode("utf-8"))
        if not lo <= n <= hi:
            raise _fail(msg_type, name, "%d bytes, allowed %d..%d" % (n, lo, hi))
        return v
    if kind == "enum":
        table = lo
        if v not in table:
            raise _fail(msg_type, name, "%r not one of %s" % (v, ", ".join(table)))
        return table.index(v) + 1
    if kind == "bool":
        if v is not True and v is not False:
            raise _fail(msg_type, name, "must be true or false")
        return v
    if kind == "ranges":
        return _ranges(msg_type, name, v, lo, hi)
    if kind == "doses":
        return _doses(msg_type, name, v, hi)
    if kind == "config":
        if not isinstance(v, dict) or not lo <= len(v) <= hi:
            raise _fail(msg_type, name, "must be a map of %d..%d settings" % (lo, hi))
        out: dict[Any, Any] = {}
        for k in v:
            spec = CONFIG_KEYS.get(k)
            if spec is None:
                raise _fail(msg_type, name, "unknown setting %r (known: %s)" % (
                    k, ", ".join(sorted(CONFIG_KEYS))))
            out[spec[0]] = _to_wire(msg_type, name + "." + k, spec[1], spec[2], spec[3], v[k])
        return out
    raise _fail(msg_type, name, "unknown kind " + kind)


def _from_wire(msg_type: str, name: str, kind: str, lo: "Any", hi: int, v: "Any") -> "Any":
    """Validate one field value in wire form; return its readable form."""
    if kind == "enum":
        table = lo
        if not _check_uint(v, 1, len(table)):
            raise _fail(msg_type, name, "%r not a known code" % (v,))
        return table[v - 1]
    if kind == "config":
        if not isinstance(v, dict) or not lo <= len(v) <= hi:
            raise _fail(msg_type, name, "must be a map of %d..%d settings" % (lo, hi))
        out: dict[Any, Any] = {}
        for k in v:
            cname = _name_of(CONFIG_KEYS, k)
            if cname is None:
                raise _fail(msg_type, name, "unknown setting key %r" % (k,))
            spec = CONFIG_KEYS[cname]
            out[cname] = _to_wire(msg_type, name + "." + cname, spec[1], spec[2], spec[3], v[k])
        return out
    # Same validation both ways for the remaining kinds.
    return _to_wire(msg_type, name, kind, lo, hi, v)


def _ranges(msg_type: str, name: str, v: "Any", lo: int, hi: int) -> "list[list[int]]":
    if not isinstance(v, list) or not lo <= len(v) <= hi:
        raise _fail(msg_type, name, "must be a list of %d..%d [first, last] ranges" % (lo, hi))
    out: list[list[int]] = []
    for r in v:
        if (not isinstance(r, (list, tuple)) or len(r) != 2
                or not _check_uint(r[0], 0, (1 << 40) - 1)
                or not _check_uint(r[1], r[0] if isinstance(r[0], int) else 0, (1 << 40) - 1)):
            raise _fail(msg_type, name, "%r is not a [first, last] range" % (r,))
        out.append([r[0], r[1]])
    return out


def _doses(msg_type: str, name: str, v: "Any", hi: int) -> "list[list[int]]":
    if not isinstance(v, list) or len(v) > hi:
        raise _fail(msg_type, name, "must be a list of at most %d [minute_of_day, dose_id]" % hi)
    out: list[list[int]] = []
    prev = -1
    for d in v:
        if (not isinstance(d, (list, tuple)) or len(d) != 2 or not _check_uint(d[0], 0, 1439)
                or not _check_uint(d[1], 0, 255)):
            raise _fail(msg_type, name, "%r is not [minute_of_day 0..1439, dose_id 0..255]" % (d,))
        if d[0] <= prev:
            raise _fail(msg_type, name, "doses must be in increasing time order")
        prev = d[0]
        out.append([d[0], d[1]])
    return out


def direction_of(msg_type: str) -> int:
    spec = TYPES.get(msg_type) if isinstance(msg_type, str) else None
    if spec is None:
        raise ProtocolError(SCHEMA, "unknown message type %r" % (msg_type,))
    return spec[1]


def _wire_items(msg: "dict[str, Any]") -> "list[tuple[int, Any]]":
    """Validate a readable message; return its ``[(key, wire value)]`` in key order."""
    if not isinstance(msg, dict):
        raise ProtocolError(SCHEMA, "message must be a map")
    msg_type: Any = msg.get("type")
    spec = TYPES.get(msg_type) if isinstance(msg_type, str) else None
    if spec is None:
        raise ProtocolError(SCHEMA, "unknown message type %r" % (msg_type,))
    fields = FIELDS[msg_type]
    items: list[tuple[int, Any]] = [(_KEY_TYPE, spec[0])]
    for name, key, kind, required, lo, hi in fields:
        v = msg.get(name)
        if v is None:
            if required:
                raise _fail(msg_type, name, "missing")
            continue
        items.append((key, _to_wire(msg_type, name, kind, lo, hi, v)))
    if len(items) != len(msg):
        known = [f[0] for f in fields]
        for name in msg:
            if name != "type" and name not in known and msg[name] is not None:
                raise _fail(msg_type, name, "unknown field")
    if msg_type == COMMAND:
        _check_command(msg)
    return items


def to_wire(msg: "dict[str, Any]") -> "dict[int, Any]":
    """Validate a readable message and return its wire map (int keys)."""
    return dict(_wire_items(msg))


def encode(msg: "dict[str, Any]") -> bytes:
    """Validate and serialize a message. Raises ``ProtocolError(SCHEMA)``.

    The fields tables list keys in increasing order and every key is below 24,
    so writing them in table order is already the deterministic map order of
    RFC 8949 §4.2.1 -- no sorting on the device's hot path.
    """
    items = _wire_items(msg)
    out = bytearray()
    out.append(0xA0 | len(items))
    for key, value in items:
        out.append(key)
        cbor.encode_into(out, value)
    return bytes(out)


def decode(payload: bytes, direction: int) -> "dict[str, Any]":
    """Parse and validate a payload that arrived in ``direction``.

    Raises ``ProtocolError``: the CBOR reasons for bad encoding, SCHEMA for a
    well-formed map that is not a valid message, WRONG_DIRECTION for a message
    type that does not travel this way.
    """
    wire = cbor.decode(payload)
    return from_wire(wire, direction)


def from_wire(wire: "Any", direction: int) -> "dict[str, Any]":
    if not isinstance(wire, dict):
        raise ProtocolError(SCHEMA, "message is not a map")
    code = wire.get(_KEY_TYPE)
    msg_type = _name_of(TYPES, code)
    if msg_type is None:
        raise ProtocolError(SCHEMA, "unknown message type code %r" % (code,))
    if TYPES[msg_type][1] != direction:
        raise ProtocolError(WRONG_DIRECTION, msg_type + " does not travel this way")
    msg: dict[str, Any] = {"type": msg_type}
    used = 1
    for name, key, kind, required, lo, hi in FIELDS[msg_type]:
        v = wire.get(key)
        if v is None:
            if required:
                raise _fail(msg_type, name, "missing")
            continue
        used += 1
        msg[name] = _from_wire(msg_type, name, kind, lo, hi, v)
    if used != len(wire):
        raise ProtocolError(SCHEMA, "%s: unknown keys" % msg_type)
    if msg_type == COMMAND:
        _check_command(msg)
    return msg


def _check_command(msg: "dict[str, Any]") -> None:
    allowed = COMMAND_FIELDS[msg["command"]]
    for name in ("config", "time", "utc_offset_min", "doses", "seconds", "reference", "level"):
        present = name in msg and msg[name] is not None
        if present and name not in allowed:
            raise _fail(COMMAND, name, "not allowed in " + msg["command"])
        if not present and name in allowed:
            raise _fail(COMMAND, name, "required by " + msg["command"])
