"""protocol/trygg.cddl (the normative schema) and protocol/messages.py (its implementation)
agree: every message kind validates against the CDDL with an independent validator (pycddl,
i.e. cddl-rs), the CDDL refuses what messages.py refuses, and every enumeration and range is the
same in both.

pycddl (0.6.4, cddl-rs) has bugs that this file works around. Each is a strict xfail where it
matters, so a fixed pycddl (or CDDL) shows up as XPASS and the mark must go:

* ``.cbor`` inside an array is applied to the wrong array index, so the whole-frame rule
  ``trygg-frame`` cannot be used: the envelope is validated with the root
  ``#6.17([bstr, unprotected-header, bstr, mac-tag])`` and its two ``.cbor`` byte strings
  separately with the roots ``protected-header`` and ``message``.
* ``uint``/``nint`` combined with ``.ge``/``.le`` ignore the base type (even plain ``nint``
  matches 5); trygg.cddl therefore writes its signed ranges as ``(int .ge LO) .and
  (int .le HI)`` (RFC 8610 §3.8.5), which pycddl validates exactly.
* An array's upper occurrence bound (``[1*8 seq-range]``) is not enforced when the entries
  are themselves arrays.
* A type choice of maps (``message``) matches any array.
* Ranges (``0..65535``) and ``tstr .size`` also match byte strings.
* A map whose entries are all optional (``config``), and a map inside an array (the unprotected
  header in the envelope), accept keys the rule does not list.

Because pycddl is this loose, the field tables of messages.py are also compared with the CDDL
text itself (test_message_fields_agree_with_the_cddl_text), which does not depend on pycddl.
"""

from __future__ import annotations

import re
from typing import Any

import pycddl
import pytest
from hypothesis import given, settings

from support.protocol import ALGS, KID, MAC_KEY, SEQS, all_samples, valid_messages
from trygg.protocol import cbor, cose, frame, messages
from trygg.protocol.errors import ProtocolError
from trygg.tools.device.tree import package_source

CDDL_TEXT = (package_source("protocol") / "trygg.cddl").read_text(encoding="utf-8")


def schema(root: str) -> pycddl.Schema:
    return pycddl.Schema("root = " + root + "\n" + CDDL_TEXT)


# The root a frame should have is `trygg-frame`; see the module docstring for why it is split.
ENVELOPE = schema("#6.17([bstr, unprotected-header, bstr, mac-tag])")
PROTECTED = schema("protected-header")
MESSAGE = schema("message")
UP_MESSAGE = schema("up-message")
DOWN_MESSAGE = schema("down-message")

PYCDDL_ARRAY_OF_ARRAYS = pytest.mark.xfail(strict=True, reason=(
    "pycddl bug: upper occurrence bound not enforced for an array of arrays"))
PYCDDL_CBOR_IN_ARRAY = pytest.mark.xfail(strict=True, reason=(
    "pycddl bug: .cbor inside an array is applied to the wrong array index"))
PYCDDL_CHOICE_OF_MAPS = pytest.mark.xfail(strict=True, reason=(
    "pycddl bug: a type choice of maps matches any array"))
PYCDDL_BSTR_AS_NUMBER_OR_TEXT = pytest.mark.xfail(strict=True, reason=(
    "pycddl bug: ranges and tstr .size also match byte strings"))
PYCDDL_OPEN_MAP = pytest.mark.xfail(strict=True, reason=(
    "pycddl bug: a map of only optional entries, or a map inside an array, accepts unlisted "
    "keys"))


def valid(cddl: pycddl.Schema, data: bytes) -> bool:
    try:
        cddl.validate_cbor(data)
    except pycddl.ValidationError:
        return False
    return True


def messages_accepts(wire: Any) -> bool:
    """Whether messages.py accepts a wire map in the direction its type travels (or any)."""
    for direction in (cose.UP, cose.DOWN):
        try:
            messages.from_wire(wire, direction)
        except ProtocolError:
            continue
        return True
    return False


# --- every message kind validates ----------------------------------------------------------------

SAMPLES = all_samples()


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(("name", "msg"), SAMPLES, ids=[n for n, _m in SAMPLES])
def test_every_sample_frame_validates_against_the_cddl(name: str, msg: dict[str, Any],
                                                       alg: int) -> None:
    for seq in SEQS:
        data = frame.seal(msg, MAC_KEY, KID, seq, alg)
        protected, _alg, _seq, _kid, payload, _tag = cose.parse(data)
        assert valid(ENVELOPE, data)
        assert valid(PROTECTED, protected)
        assert valid(MESSAGE, payload)


@pytest.mark.parametrize(("name", "msg"), SAMPLES, ids=[n for n, _m in SAMPLES])
def test_each_message_belongs_to_the_cddl_group_of_its_direction(name: str,
                                                                 msg: dict[str, Any]) -> None:
    payload = messages.encode(msg)
    up = messages.direction_of(msg["type"]) == cose.UP
    assert valid(UP_MESSAGE, payload) is up
    assert valid(DOWN_MESSAGE, payload) is not up


def test_every_message_type_of_messages_py_has_a_sample() -> None:
    assert {m["type"] for _n, m in SAMPLES} == set(messages.TYPES)
    commands = {m["command"] for _n, m in SAMPLES if m["type"] == "command"}
    assert commands  # the command kinds are covered by the generated messages below


@settings(max_examples=800, deadline=None)
@given(valid_messages())
def test_any_valid_message_validates_against_the_cddl(msg: dict[str, Any]) -> None:
    assert valid(MESSAGE, messages.encode(msg)), msg


@PYCDDL_CBOR_IN_ARRAY
def test_whole_frame_validates_against_the_trygg_frame_rule() -> None:
    data = frame.seal(SAMPLES[0][1], MAC_KEY, KID, 7)
    assert valid(schema("trygg-frame"), data)


# --- the CDDL refuses what messages.py refuses ---------------------------------------------------

def _p(what: str, wire: Any, *marks: Any) -> Any:
    return pytest.param(wire, id=what, marks=marks)


EVENT = {0: 2, 1: 5, 3: 1}
HEARTBEAT = {0: 3, 1: 5, 3: 3000, 4: -60, 5: 1, 6: 0, 7: 0}
SCHEMA_VIOLATIONS = [
    _p("not a map", [2, 5, 1], PYCDDL_CHOICE_OF_MAPS),
    _p("no type", {1: 5, 3: 1}),
    _p("unknown type code", {0: 99, 1: 5}),
    _p("type as text", {0: "event", 1: 5, 3: 1}),
    _p("missing required field", {0: 2, 1: 5}),
    _p("unknown key", {**EVENT, 9: 0}),
    _p("text key", {**EVENT, "x": 0}),
    _p("null value", {**EVENT, 2: None}),
    _p("uptime beyond uint32", {**EVENT, 1: 1 << 32}),
    _p("uptime negative", {**EVENT, 1: -1}),
    _p("uptime as text", {**EVENT, 1: "5"}),
    _p("uptime as bool", {**EVENT, 1: True}),
    _p("uptime as bytes", {**EVENT, 1: b"\x05"}, PYCDDL_BSTR_AS_NUMBER_OR_TEXT),
    _p("event code 0", {**EVENT, 3: 0}),
    _p("event code past the table", {**EVENT, 3: len(messages.EVENTS) + 1}),
    _p("event value 2^31", {**EVENT, 4: 1 << 31}),
    _p("event value -2^31-1", {**EVENT, 4: -(1 << 31) - 1}),
    _p("heartbeat rssi 1", {**HEARTBEAT, 4: 1}),
    _p("heartbeat rssi -129", {**HEARTBEAT, 4: -129}),
    _p("heartbeat battery 65536", {**HEARTBEAT, 3: 65536}),
    _p("heartbeat stock 256", {**HEARTBEAT, 10: 256}),
    _p("hello firmware empty", {0: 1, 1: 1, 3: "", 4: 1, 5: "b", 6: 1}),
    _p("hello firmware 17 bytes", {0: 1, 1: 1, 3: "f" * 17, 4: 1, 5: "b", 6: 1}),
    _p("hello firmware 9 two-byte characters", {0: 1, 1: 1, 3: "ø" * 9, 4: 1, 5: "b", 6: 1}),
    _p("hello firmware as bytes", {0: 1, 1: 1, 3: b"1", 4: 1, 5: "b", 6: 1},
       PYCDDL_BSTR_AS_NUMBER_OR_TEXT),
    _p("hello reset cause 9", {0: 1, 1: 1, 3: "1", 4: 1, 5: "b", 6: 9}),
    _p("command_result status 0", {0: 4, 1: 1, 3: 1, 4: 0}),
    _p("command_result detail 33 bytes", {0: 4, 1: 1, 3: 1, 4: 1, 5: "d" * 33}),
    _p("ack without ranges", {0: 16}),
    _p("ack with no range", {0: 16, 1: []}),
    _p("ack with 9 ranges", {0: 16, 1: [[i, i] for i in range(9)]}, PYCDDL_ARRAY_OF_ARRAYS),
    _p("ack range beyond 2^40", {0: 16, 1: [[0, 1 << 40]]}),
    _p("ack range of 3", {0: 16, 1: [[0, 1, 2]]}),
    _p("ack range as a map", {0: 16, 1: [{0: 1}]}),
    _p("command without kind", {0: 17, 1: 1}),
    _p("command kind 7", {0: 17, 1: 1, 2: 7}),
    _p("set_config with an unknown setting", {0: 17, 1: 1, 2: 1, 3: {99: 1}}, PYCDDL_OPEN_MAP),
    _p("set_config with a text setting key", {0: 17, 1: 1, 2: 1, 3: {"room": "x"}},
       PYCDDL_OPEN_MAP),
    _p("set_config heartbeat 9 s", {0: 17, 1: 1, 2: 1, 3: {1: 9}}),
    _p("set_config door contact 1", {0: 17, 1: 1, 2: 1, 3: {10: 1}}),
    _p("set_config room 17 bytes", {0: 17, 1: 1, 2: 1, 3: {11: "r" * 17}}),
    _p("set_time offset 841", {0: 17, 1: 1, 2: 2, 4: 1, 5: 841}),
    _p("set_time offset -841", {0: 17, 1: 1, 2: 2, 4: 1, 5: -841}),
    _p("9 doses", {0: 17, 1: 1, 2: 3, 6: [[i, 1] for i in range(9)]}, PYCDDL_ARRAY_OF_ARRAYS),
    _p("dose at minute 1440", {0: 17, 1: 1, 2: 3, 6: [[1440, 1]]}),
    _p("dose id 256", {0: 17, 1: 1, 2: 3, 6: [[0, 256]]}),
    _p("identify for 0 s", {0: 17, 1: 1, 2: 4, 7: 0}),
    _p("identify for 601 s", {0: 17, 1: 1, 2: 4, 7: 601}),
    _p("calibrate with reference 3", {0: 17, 1: 1, 2: 6, 8: 3}),
]
# Not in the list: rules the CDDL states only in comments, which messages.py enforces on its
# own -- which optional command fields each command kind needs (messages.COMMAND_FIELDS), that
# a set_config carries at least one setting, that doses are in increasing time order and that
# an ack range has first <= last. See test_rules_only_messages_py_can_enforce_are_enforced.


@pytest.mark.parametrize("wire", SCHEMA_VIOLATIONS)
def test_cddl_refuses_what_messages_py_refuses(wire: Any) -> None:
    assert not messages_accepts(wire)
    assert not valid(MESSAGE, cbor.encode(wire))


@pytest.mark.parametrize(
    "wire",
    [
        _p("set_config without config", {0: 17, 1: 1, 2: 1}),
        _p("set_config with no setting", {0: 17, 1: 1, 2: 1, 3: {}}),
        _p("reboot with a config", {0: 17, 1: 1, 2: 5, 3: {1: 60}}),
        _p("set_time without offset", {0: 17, 1: 1, 2: 2, 4: 1}),
        _p("identify without seconds", {0: 17, 1: 1, 2: 4}),
        _p("doses out of order", {0: 17, 1: 1, 2: 3, 6: [[600, 1], [500, 2]]}),
        _p("two doses at the same minute", {0: 17, 1: 1, 2: 3, 6: [[600, 1], [600, 2]]}),
        _p("ack range backwards", {0: 16, 1: [[5, 4]]}),
    ],
)
def test_rules_only_messages_py_can_enforce_are_enforced(wire: Any) -> None:
    assert not messages_accepts(wire)


# --- enumerations and ranges agree ---------------------------------------------------------------

def cddl_enumerations() -> dict[str, dict[str, int]]:
    """Every ``name = &(label: value, ...)`` of the CDDL as {name: {label: value}}."""
    found = {}
    for name, body in re.findall(r"^([\w-]+)\s*=\s*&\(([^)]*)\)", CDDL_TEXT, re.M):
        pairs = re.findall(r"([\w-]+)\s*:\s*(\d+)", body)
        found[name] = {label: int(value) for label, value in pairs}
    return found


ENUMERATIONS = [
    ("role", messages.ROLES),
    ("reset-cause", messages.RESET_CAUSES),
    ("event-code", messages.EVENTS),
    ("command-kind", messages.COMMANDS),
    ("status", messages.STATUSES),
    ("bed-reference", messages.CALIBRATE_REFERENCES),
    ("power-source", messages.POWER_SOURCES),
]


@pytest.mark.parametrize(("rule", "table"), ENUMERATIONS, ids=[e[0] for e in ENUMERATIONS])
def test_cddl_enumeration_lists_the_same_names_and_codes_as_messages_py(
        rule: str, table: tuple[str, ...]) -> None:
    in_cddl = cddl_enumerations()[rule]
    in_python = {name.replace("_", "-"): i + 1 for i, name in enumerate(table)}
    assert in_cddl == in_python


def test_every_cddl_enumeration_is_checked() -> None:
    assert set(cddl_enumerations()) == {rule for rule, _table in ENUMERATIONS}


def test_message_type_codes_and_directions_agree_with_the_cddl() -> None:
    groups = {"up": re.search(r"^up-message\s*=\s*(.+)$", CDDL_TEXT, re.M),
              "down": re.search(r"^down-message\s*=\s*(.+)$", CDDL_TEXT, re.M)}
    members = {}
    for direction, match in groups.items():
        assert match is not None
        for rule in re.findall(r"[\w-]+", match.group(1)):
            members[rule.replace("-", "_")] = cose.UP if direction == "up" else cose.DOWN
    codes = {}
    for rule in members:
        body = re.search(r"^" + rule.replace("_", "-") + r"\s*=\s*\{\s*0 => (\d+),", CDDL_TEXT,
                         re.M)
        assert body is not None, rule
        codes[rule] = int(body.group(1))
    assert {name: (codes[name], members[name]) for name in members} == messages.TYPES


def cddl_config() -> dict[str, tuple[int, str, int, int]]:
    """The ``config`` map of the CDDL as {name (from the comment): (key, kind, lo, hi)}."""
    match = re.search(r"^config = \{(.*?)^\}", CDDL_TEXT, re.M | re.S)
    assert match is not None
    found = {}
    for key, value_type, name in re.findall(r"\?\s*(\d+)\s*=>\s*(.+?),\s*;\s*(\w+)",
                                            match.group(1)):
        if value_type == "bool":
            kind, lo, hi = "bool", 0, 1
        else:
            size = re.fullmatch(r"tstr \.size \((\d+)\.\.(\d+)\)", value_type)
            uint = re.fullmatch(r"(\d+)\.\.(\d+)", value_type)
            assert size or uint, value_type
            kind = "tstr" if size else "uint"
            lo, hi = (int(g) for g in (size or uint).groups())  # type: ignore[union-attr]
        found[name] = (int(key), kind, lo, hi)
    return found


def test_config_keys_have_the_same_wire_keys_kinds_and_ranges_as_the_cddl() -> None:
    assert cddl_config() == messages.CONFIG_KEYS


def cddl_rule(name: str) -> str:
    """The text right of ``name =`` (a one-line rule, comment removed)."""
    match = re.search(r"^" + re.escape(name) + r"\s*=\s*(.+?)\s*(;.*)?$", CDDL_TEXT, re.M)
    assert match is not None, name
    return match.group(1)


def cddl_value_kind(type_text: str) -> tuple[str, Any, Any]:
    """A CDDL value type as messages.py's (kind, lo, hi); only the forms trygg.cddl uses."""
    text = type_text.strip()
    enumerations = cddl_enumerations()
    if text in enumerations:
        labels = sorted(enumerations[text], key=enumerations[text].__getitem__)
        return "enum", tuple(label.replace("-", "_") for label in labels), 0
    if text == "bool":
        return "bool", 0, 1
    if text == "config":
        return "config", None, None  # how many settings is a comment in the CDDL
    forms = [
        (r"(\d+)\.\.(\d+)", "uint"),
        (r"tstr \.size \((\d+)\.\.(\d+)\)", "tstr"),
        (r"\(nint \.ge (-\d+)\) / \(uint \.le (\d+)\)", "int"),
        (r"\(nint \.ge (-\d+)\) / (0)", "int"),
        (r"\(int \.ge (-?\d+)\) \.and \(int \.le (-?\d+)\)", "int"),
        (r"\[(\d+)\*(\d+) seq-range\]", "ranges"),
        (r"\[(\d+)\*(\d+) dose\]", "doses"),
    ]
    for pattern, kind in forms:
        match = re.fullmatch(pattern, text)
        if match:
            return kind, int(match.group(1)), int(match.group(2))
    if re.fullmatch(r"[\w-]+", text):
        return cddl_value_kind(cddl_rule(text))
    raise AssertionError("unknown CDDL form in trygg.cddl: " + text)


def cddl_message_fields(rule: str) -> dict[int, tuple[bool, str, Any, Any]]:
    """A message map of the CDDL as {key: (required, kind, lo, hi)}, the type key left out."""
    match = re.search(r"^" + rule + r" = \{(.*?)^\}", CDDL_TEXT, re.M | re.S)
    assert match is not None, rule
    body = re.sub(r";[^\n]*", "", match.group(1))
    entries = [e.strip() for e in body.split(",") if e.strip()]
    fields = {}
    while entries:
        entry = entries.pop(0)
        group = re.fullmatch(r"[\w-]+", entry)
        if group:  # a group such as uptime-field = (1 => uint32): expand it
            entries.insert(0, cddl_rule(entry).strip("()"))
            continue
        entry_match = re.fullmatch(r"(\?\s*)?(\d+)\s*=>\s*(.+)", entry)
        assert entry_match is not None, entry
        key = int(entry_match.group(2))
        if key:
            fields[key] = (not entry_match.group(1), *cddl_value_kind(entry_match.group(3)))
    return fields


@pytest.mark.parametrize("msg_type", sorted(messages.FIELDS))
def test_message_fields_agree_with_the_cddl_text(msg_type: str) -> None:
    # Independent of pycddl's semantics: the CDDL's own words against messages.FIELDS.
    in_python = {}
    for _name, key, kind, required, lo, hi in messages.FIELDS[msg_type]:
        in_python[key] = (required, kind) + ((None, None) if kind == "config" else (lo, hi))
    assert cddl_message_fields(msg_type.replace("_", "-")) == in_python


def boundary_values(kind: str, lo: int, hi: int) -> list[tuple[Any, bool]]:
    """Values at and just beyond a field's limits, with whether messages.py allows them."""
    if kind in ("uint", "int"):
        return [(lo, True), (hi, True), (lo - 1, False), (hi + 1, False)]
    if kind == "tstr":
        out = [("t" * lo, True), ("t" * hi, True), ("t" * (hi + 1), False), (b"t" * lo, False)]
        if lo:
            out.append(("t" * (lo - 1), False))
        if hi >= 2:
            out += [("é" * (hi // 2), True), ("é" * (hi // 2 + 1), False)]
        return out
    if kind == "bool":
        return [(True, True), (False, True), (0, False), (1, False)]
    raise AssertionError(kind)


def with_value(base: dict[str, Any], name: str, value: Any) -> Any:
    """The wire form of ``base`` with field ``name`` set to ``value`` (given in wire form)."""
    wire = messages.to_wire(base)
    for fname, key, _kind, _required, _lo, _hi in messages.FIELDS[base["type"]]:
        if fname == name:
            wire[key] = value
            return wire
    raise AssertionError(name)


# A valid base message for every field that has a plain value.
_BASES = {
    "hello": {"type": "hello", "uptime": 1, "time": 2, "firmware": "f", "role": "bed",
              "board": "b", "reset": "hard"},
    "event": {"type": "event", "uptime": 1, "time": 2, "event": "motion", "value": 0},
    "heartbeat": {"type": "heartbeat", "uptime": 1, "time": 2, "battery_mv": 1, "rssi": -1,
                  "free_heap": 1, "outbox": 1, "rejected": 1, "level": 1, "triggers": 1,
                  "stock": 1, "dropped": 1},
    "command_result": {"type": "command_result", "uptime": 1, "time": 2, "command_id": 1,
                       "status": "ok", "detail": "d"},
    "command/set_time": {"type": "command", "command_id": 1, "command": "set_time", "time": 1,
                         "utc_offset_min": 60},
    "command/identify": {"type": "command", "command_id": 1, "command": "identify",
                         "seconds": 5},
    "command/calibrate": {"type": "command", "command_id": 1, "command": "calibrate",
                          "reference": "empty"},
}
# Boundary cases on which pycddl is known wrong (see the module docstring).
def pycddl_bugs(value: Any) -> list[Any]:
    return [PYCDDL_BSTR_AS_NUMBER_OR_TEXT] if isinstance(value, bytes) else []


def field_boundary_cases() -> list[Any]:
    cases = []
    for base_name, base in _BASES.items():
        for name, _key, kind, _required, lo, hi in messages.FIELDS[base["type"]]:
            if name not in base or name == "command":
                continue  # the command kind decides the other fields: see the enum tests
            if kind == "enum":
                table = lo
                values = [(1, True), (len(table), True), (0, False), (len(table) + 1, False)]
            else:
                values = boundary_values(kind, lo, hi)
            for value, allowed in values:
                marks = pycddl_bugs(value)
                cases.append(pytest.param(with_value(base, name, value), allowed,
                                          id=f"{base_name}.{name}={value!r}", marks=marks))
    return cases


@pytest.mark.parametrize(("wire", "allowed"), field_boundary_cases())
def test_field_limits_are_the_same_in_the_cddl_and_messages_py(wire: Any, allowed: bool) -> None:
    assert messages_accepts(wire) is allowed
    assert valid(MESSAGE, cbor.encode(wire)) is allowed


def config_boundary_cases() -> list[Any]:
    cases = []
    for name, (key, kind, lo, hi) in messages.CONFIG_KEYS.items():
        for value, allowed in boundary_values(kind, lo, hi):
            if kind == "uint" and value < 0:
                continue  # a negative number is no uint anywhere; covered by uint fields above
            wire = {0: 17, 1: 1, 2: 1, 3: {key: value}}
            cases.append(pytest.param(wire, allowed, id=f"{name}={value!r}",
                                      marks=pycddl_bugs(value)))
    return cases


@pytest.mark.parametrize(("wire", "allowed"), config_boundary_cases())
def test_config_limits_are_the_same_in_the_cddl_and_messages_py(wire: Any, allowed: bool) -> None:
    assert messages_accepts(wire) is allowed
    assert valid(MESSAGE, cbor.encode(wire)) is allowed


EVERY_SETTING = {"type": "command", "command_id": 1, "command": "set_config", "config": {
    name: True if kind == "bool" else "r" * lo if kind == "tstr" else lo
    for name, (_key, kind, lo, _hi) in messages.CONFIG_KEYS.items()}}


@pytest.mark.parametrize(
    ("wire", "allowed"),
    [
        pytest.param({0: 16, 1: [[0, 0]]}, True, id="ack 1 range"),
        pytest.param({0: 16, 1: [[i, i] for i in range(8)]}, True, id="ack 8 ranges"),
        pytest.param({0: 16, 1: [[0, cose.MAX_SEQ]]}, True, id="ack up to 2^40-1"),
        pytest.param({0: 16, 1: [[0, cose.MAX_SEQ + 1]]}, False, id="ack up to 2^40"),
        pytest.param({0: 16, 1: [[-1, 0]]}, False, id="ack from -1"),
        pytest.param({0: 17, 1: 1, 2: 3, 6: []}, True, id="no doses"),
        pytest.param({0: 17, 1: 1, 2: 3, 6: [[i, 255] for i in range(1432, 1440)]}, True,
                     id="8 doses up to minute 1439"),
        pytest.param({0: 17, 1: 1, 2: 3, 6: [[-1, 0]]}, False, id="dose at minute -1"),
        pytest.param({0: 17, 1: 1, 2: 5}, True, id="reboot"),
        pytest.param(messages.to_wire(EVERY_SETTING), True, id="set_config with every setting"),
    ],
)
def test_composite_field_limits_are_the_same_in_the_cddl_and_messages_py(
        wire: Any, allowed: bool) -> None:
    assert messages_accepts(wire) is allowed
    assert valid(MESSAGE, cbor.encode(wire)) is allowed


# --- envelope and protected header ---------------------------------------------------------------

GOOD = frame.seal({"type": "event", "uptime": 5, "event": "motion"}, MAC_KEY, KID, 7)


def cose_parses(data: bytes) -> bool:
    try:
        cose.parse(data)
    except ProtocolError:
        return False
    return True


@pytest.mark.parametrize(
    ("protected_hex", "cddl_allows", "cose_allows"),
    [
        ("a2010406 4107", True, True),
        ("a2010406 45ffffffffff", True, True),
        # CDDL states the Partial IV's size only; "no leading zero bytes" (RFC 8613 §6.1) is
        # a comment there and enforced by cose.py alone.
        ("a2010506 4500ffffffff", True, False),
        ("a2010606 4107", False, False),  # alg 6: HMAC 384/384
        ("a2010406 4600ffffffffff", False, False),  # 6-byte Partial IV
        ("a2010406 40", False, False),  # empty Partial IV
        ("a10104", False, False),  # no Partial IV
        ("a3010404 4101 064107", False, False),  # a kid in the protected header too
        ("a2010406 07", False, False),  # Partial IV as an integer
    ],
)
def test_protected_header_limits_agree(protected_hex: str, cddl_allows: bool,
                                       cose_allows: bool) -> None:
    protected = bytes.fromhex(protected_hex.replace(" ", ""))
    assert valid(PROTECTED, protected) is cddl_allows
    in_frame = GOOD.replace(bytes.fromhex("46a20104064107"),
                            bytes([0x40 | len(protected)]) + protected, 1)
    assert cose_parses(in_frame) is cose_allows


@pytest.mark.parametrize(
    ("frame_hex", "allowed"),
    [
        (GOOD.hex(), True),
        (GOOD.hex().replace("a10446" + KID.hex(), "a1044d" + "00" * 13), True),
        (GOOD.hex().replace("a10446" + KID.hex(), "a10451" + "00" * 17), False),
        (GOOD.hex().replace("a10446" + KID.hex(), "a10440"), False),
        pytest.param(GOOD.hex().replace("a10446", "a201040446"), False,
                     marks=PYCDDL_OPEN_MAP, id="alg in the unprotected header too"),
        (GOOD.hex()[:-18] + "47" + "00" * 7, False),  # a 7-byte tag
        ("d2" + GOOD.hex()[2:], False),  # tag 18 (COSE_Sign1)
    ],
)
def test_envelope_limits_agree(frame_hex: str, allowed: bool) -> None:
    data = bytes.fromhex(frame_hex)
    assert valid(ENVELOPE, data) is allowed
    assert cose_parses(data) is allowed
