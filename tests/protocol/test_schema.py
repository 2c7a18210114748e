"""protocol/trygg.cddl (the normative schema) and protocol/messages.py (its implementation)
agree: every message kind and every test vector validates against the CDDL with two independent
validators, pycddl (cddl-rs) and zcbor; the CDDL refuses what messages.py refuses; and every
enumeration and range is the same in both.

Each validator has bugs of its own. Where a case meets one, that case is a strict xfail for that
validator only, so a fixed validator (or CDDL) shows up as XPASS and the mark must go. An xfail
expects only the validator's disagreement (``raises=ValidatorDisagrees``): what messages.py and
cose.py must refuse in the same case is asserted first and fails the test whatever the mark. Every
refusal is still checked by at least one of the two (test_every_violation_is_caught_by_a_validator).

pycddl 0.6.4:

* ``.cbor`` inside an array is applied to the wrong array index, so the whole-frame rule
  ``trygg-frame`` cannot be used with it: the envelope is validated with the root
  ``#6.17([bstr, unprotected-header, bstr, mac-tag])`` and its two ``.cbor`` byte strings
  separately with the roots ``protected-header`` and ``message``.
* ``uint``/``nint`` combined with ``.ge``/``.le`` ignore the base type (even plain ``nint``
  matches 5), and a range with a negative bound matches nothing. trygg.cddl writes a signed
  range as ``(nint .ge LO) / (0..HI)``, which zcbor checks exactly and pycddl only at LO.
* An array's upper occurrence bound (``[1*8 seq-range]``) is not enforced when the entries
  are themselves arrays.
* A type choice of maps (``message``) matches any array.
* Ranges (``0..65535``) and ``tstr .size`` also match byte strings.
* A map whose entries are all optional (``config``), and a map inside an array (the unprotected
  header in the envelope), accept keys the rule does not list.

zcbor 0.9.1:

* ``tstr .size`` counts characters, not UTF-8 bytes (RFC 8610 §3.8.1 says bytes).
* A map is matched entry by entry in the order the CDDL lists them, so it refuses a valid map
  whose keys come in another order. Deterministic CBOR (RFC 8949 §4.2.1) sorts the keys and
  trygg.cddl lists them sorted, so valid Trygg messages never meet this.

Because both are loose in places, the field tables of messages.py are also compared with the
CDDL text itself (test_message_fields_agree_with_the_cddl_text), which depends on neither.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias

import cbor2
import pytest
from hypothesis import given, settings

from support.cddl import CDDL_PATH, CDDL_TEXT, TOOLS, ZCBOR_PRELUDE, Pycddl, Zcbor
from support.protocol import ALGS, KID, MAC_KEY, SEQS, all_samples, valid_messages
from trygg.protocol import cbor, cose, frame, messages
from trygg.protocol.errors import ProtocolError
from trygg.tools.protocol import vectors

Tool: TypeAlias = Pycddl | Zcbor
TOOL_IDS = [tool.name for tool in TOOLS]
# The root a frame should have is `trygg-frame`; pycddl cannot use it (see the docstring).
# Its members are labelled: zcbor names what it decodes after the label or type, and two
# unlabelled bstr in one array would share a name.
ENVELOPE = ("#6.17([protected: bstr, unprotected: unprotected-header, payload: bstr, "
            "tag: mac-tag])")


class ValidatorDisagrees(AssertionError):
    """A validator's verdict on a CBOR item is not the one the CDDL states: the only failure the
    xfail marks of known validator bugs expect, so any other failure in those tests (what
    messages.py or cose.py must refuse, asserted first) still fails them."""


def cddl_says(tool: Tool, rule: str, data: bytes, expected: bool) -> None:
    if tool.accepts(rule, data) is not expected:
        raise ValidatorDisagrees(f"{tool.name}: {rule} {'accepts' if not expected else 'refuses'} "
                                 f"{data.hex()}")


class Bug:
    """A known bug of one validator: the cases that meet it are strict xfails for that one,
    expecting only :class:`ValidatorDisagrees`."""

    def __init__(self, tool: str, reason: str) -> None:
        self.tool = tool
        self.reason = reason

    def mark(self) -> Any:
        return pytest.mark.xfail(strict=True, raises=ValidatorDisagrees,
                                 reason=f"{self.tool} bug: {self.reason}")


PYCDDL_ARRAY_OF_ARRAYS = Bug("pycddl", "upper occurrence bound not enforced for an array of "
                            "arrays")
PYCDDL_CBOR_IN_ARRAY = Bug("pycddl", ".cbor inside an array is applied to the wrong array index")
PYCDDL_CHOICE_OF_MAPS = Bug("pycddl", "a type choice of maps matches any array")
PYCDDL_BSTR_AS_NUMBER_OR_TEXT = Bug("pycddl", "ranges and tstr .size also match byte strings")
PYCDDL_OPEN_MAP = Bug("pycddl", "a map of only optional entries, or a map inside an array, "
                      "accepts unlisted keys")
ZCBOR_TSTR_SIZE_IN_CHARACTERS = Bug("zcbor", "tstr .size counts characters, not UTF-8 bytes")
PYCDDL_NINT_UPPER_BOUND = Bug("pycddl", "nint .ge LO ignores the base type nint, so the upper "
                              "bound of a signed range is not checked")


class Case:
    """Values for one parametrized test and the validator bugs they meet."""

    def __init__(self, case_id: str, *values: Any, bugs: Iterable[Bug] = ()) -> None:
        self.id = case_id
        self.values = values
        self.bugs = tuple(bugs)


def per_tool(cases: Iterable[Case]) -> list[Any]:
    """``(tool, *values)`` params: each case once per validator, xfail where that one is buggy."""
    params = []
    for case in cases:
        for tool in TOOLS:
            marks = [bug.mark() for bug in case.bugs if bug.tool == tool.name]
            params.append(pytest.param(tool, *case.values, id=f"{tool.name}-{case.id}",
                                       marks=marks))
    return params


def messages_accepts(wire: Any) -> bool:
    """Whether messages.py accepts a wire map in the direction its type travels (or any)."""
    for direction in (cose.UP, cose.DOWN):
        try:
            messages.from_wire(wire, direction)
        except ProtocolError:
            continue
        return True
    return False


def frame_valid(tool: Tool, data: bytes) -> bool:
    """Whether a well-formed frame matches the CDDL: as ``trygg-frame`` where the tool can."""
    if isinstance(tool, Zcbor):
        return tool.accepts("trygg-frame", data)
    protected, _unprotected, payload, _tag = cbor2.loads(data).value
    return (tool.accepts(ENVELOPE, data) and tool.accepts("protected-header", protected)
            and tool.accepts("message", payload))


# --- every message kind and every vector validates ------------------------------------------------

SAMPLES = all_samples()
VECTORS = json.loads(vectors.vectors_path().read_text(encoding="utf-8"))


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_IDS)
@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(("name", "msg"), SAMPLES, ids=[n for n, _m in SAMPLES])
def test_every_sample_frame_validates_against_the_cddl(tool: Tool, name: str,
                                                       msg: dict[str, Any], alg: int) -> None:
    for seq in SEQS:
        assert frame_valid(tool, frame.seal(msg, MAC_KEY, KID, seq, alg)), seq


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_IDS)
@pytest.mark.parametrize("vec", VECTORS["valid"], ids=[v["name"] for v in VECTORS["valid"]])
def test_every_valid_vector_validates_against_the_cddl(tool: Tool, vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["frame"])
    assert frame_valid(tool, data)
    cddl_says(tool, vec["direction"] + "-message", messages.encode(vec["message"]), True)


# Invalid vectors whose defect is one the CDDL can see (the rest are MAC, key, replay or
# deterministic-encoding defects, which a schema cannot express), by the rule that sees it.
SCHEMA_VISIBLE_DEFECTS = {
    "payload_missing_field": "message", "payload_unknown_event": "message",
    "payload_unknown_key": "message", "payload_not_a_map": "message",
    "command_sent_upstream": "up-message", "alg_hmac_256_384": "protected-header",
    "unprotected_extra_header": ENVELOPE,
}
INVALID_CASES = [Case(v["name"], v, bugs=[PYCDDL_CHOICE_OF_MAPS] if v["name"] ==
                      "payload_not_a_map" else [PYCDDL_OPEN_MAP] if v["name"] ==
                      "unprotected_extra_header" else [])
                 for v in VECTORS["invalid"] if v["name"] in SCHEMA_VISIBLE_DEFECTS]


def test_every_schema_visible_defect_has_an_invalid_vector() -> None:
    assert {c.id for c in INVALID_CASES} == set(SCHEMA_VISIBLE_DEFECTS)


@pytest.mark.parametrize(("tool", "vec"), per_tool(INVALID_CASES))
def test_invalid_vectors_with_a_schema_defect_fail_the_cddl(tool: Tool,
                                                            vec: dict[str, Any]) -> None:
    rule = SCHEMA_VISIBLE_DEFECTS[vec["name"]]
    data = bytes.fromhex(vec["frame"])
    protected, _unprotected, payload, _tag = cbor2.loads(data).value
    part = data if rule == ENVELOPE else protected if rule == "protected-header" else payload
    cddl_says(tool, rule, part, False)
    if rule != "up-message" and frame_valid(tool, data):  # trygg-frame: either direction
        raise ValidatorDisagrees(f"{tool.name}: trygg-frame accepts {data.hex()}")


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_IDS)
@pytest.mark.parametrize(("name", "msg"), SAMPLES, ids=[n for n, _m in SAMPLES])
def test_each_message_belongs_to_the_cddl_group_of_its_direction(tool: Tool, name: str,
                                                                 msg: dict[str, Any]) -> None:
    payload = messages.encode(msg)
    up = messages.direction_of(msg["type"]) == cose.UP
    assert tool.accepts("up-message", payload) is up
    assert tool.accepts("down-message", payload) is not up


def test_every_message_type_of_messages_py_has_a_sample() -> None:
    assert {m["type"] for _n, m in SAMPLES} == set(messages.TYPES)
    commands = {m["command"] for _n, m in SAMPLES if m["type"] == "command"}
    assert commands  # the command kinds are covered by the generated messages below


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_IDS)
@settings(max_examples=400, deadline=None)
@given(valid_messages())
def test_any_valid_message_validates_against_the_cddl(tool: Tool, msg: dict[str, Any]) -> None:
    cddl_says(tool, "message", messages.encode(msg), True)


@pytest.mark.parametrize(("tool", "data"), per_tool([Case(
    "event", frame.seal(SAMPLES[0][1], MAC_KEY, KID, 7), bugs=[PYCDDL_CBOR_IN_ARRAY])]))
def test_whole_frame_validates_against_the_trygg_frame_rule(tool: Tool, data: bytes) -> None:
    cddl_says(tool, "trygg-frame", data, True)


def test_zcbor_generates_c_code_from_the_cddl_that_compiles(tmp_path: Path) -> None:
    # What a C firmware would do with the schema. zcbor names C types and members after CDDL
    # names, so e.g. two fields of one shared type in a map, or an optional group whose member
    # has the group's name, give code that does not generate or does not compile.
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc or gcc) to compile zcbor's code with")
    subprocess.run([sys.executable, "-m", "zcbor.zcbor.zcbor", "code", "-c", str(CDDL_PATH),
                    "-t", "trygg-frame", "message", "--decode", "--encode",
                    "--output-cmake", "trygg.cmake"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    sources = sorted((tmp_path / "src").glob("*.c"))
    assert [p.name for p in sources] == ["trygg_decode.c", "trygg_encode.c"]
    zcbor_include = ZCBOR_PRELUDE.parent.parent / "include"
    for source in sources:
        built = subprocess.run([compiler, "-std=c11", "-Wall", "-Werror", "-c", str(source),
                                "-I", str(tmp_path / "include"), "-I", str(zcbor_include),
                                "-o", str(tmp_path / (source.stem + ".o"))],
                               capture_output=True, text=True, timeout=120, check=False)
        assert built.returncode == 0, built.stderr


# --- the CDDL refuses what messages.py refuses ---------------------------------------------------

EVENT = {0: 2, 1: 5, 3: 1}
HEARTBEAT = {0: 3, 1: 5, 3: 3000, 4: -60, 5: 1, 6: 0, 7: 0}
BSTR = [PYCDDL_BSTR_AS_NUMBER_OR_TEXT]
NINT = [PYCDDL_NINT_UPPER_BOUND]
SCHEMA_VIOLATIONS = [
    Case("not a map", [2, 5, 1], bugs=[PYCDDL_CHOICE_OF_MAPS]),
    Case("no type", {1: 5, 3: 1}),
    Case("unknown type code", {0: 99, 1: 5}),
    Case("type as text", {0: "event", 1: 5, 3: 1}),
    Case("missing required field", {0: 2, 1: 5}),
    Case("unknown key", {**EVENT, 9: 0}),
    Case("text key", {**EVENT, "x": 0}),
    Case("null value", {**EVENT, 2: None}),
    Case("uptime beyond uint32", {**EVENT, 1: 1 << 32}),
    Case("uptime negative", {**EVENT, 1: -1}),
    Case("uptime as text", {**EVENT, 1: "5"}),
    Case("uptime as bool", {**EVENT, 1: True}),
    Case("uptime as bytes", {**EVENT, 1: b"\x05"}, bugs=BSTR),
    Case("event code 0", {**EVENT, 3: 0}),
    Case("event code past the table", {**EVENT, 3: len(messages.EVENTS) + 1}),
    Case("event value 2^31", {**EVENT, 4: 1 << 31}, bugs=NINT),
    Case("event value -2^31-1", {**EVENT, 4: -(1 << 31) - 1}),
    Case("heartbeat rssi 1", {**HEARTBEAT, 4: 1}, bugs=NINT),
    Case("heartbeat rssi -129", {**HEARTBEAT, 4: -129}),
    Case("heartbeat battery 65536", {**HEARTBEAT, 3: 65536}),
    Case("heartbeat stock 256", {**HEARTBEAT, 10: 256}),
    Case("hello firmware empty", {0: 1, 1: 1, 3: "", 4: 1, 5: "b", 6: 1}),
    Case("hello firmware 17 bytes", {0: 1, 1: 1, 3: "f" * 17, 4: 1, 5: "b", 6: 1}),
    Case("hello firmware 9 two-byte characters", {0: 1, 1: 1, 3: "ø" * 9, 4: 1, 5: "b", 6: 1},
         bugs=[ZCBOR_TSTR_SIZE_IN_CHARACTERS]),
    Case("hello firmware as bytes", {0: 1, 1: 1, 3: b"1", 4: 1, 5: "b", 6: 1}, bugs=BSTR),
    Case("hello reset cause 9", {0: 1, 1: 1, 3: "1", 4: 1, 5: "b", 6: 9}),
    Case("command_result status 0", {0: 4, 1: 1, 3: 1, 4: 0}),
    Case("command_result detail 33 bytes", {0: 4, 1: 1, 3: 1, 4: 1, 5: "d" * 33}),
    Case("ack without ranges", {0: 16}),
    Case("ack with no range", {0: 16, 1: []}),
    Case("ack with 9 ranges", {0: 16, 1: [[i, i] for i in range(9)]},
         bugs=[PYCDDL_ARRAY_OF_ARRAYS]),
    Case("ack range beyond 2^40", {0: 16, 1: [[0, 1 << 40]]}),
    Case("ack range of 3", {0: 16, 1: [[0, 1, 2]]}),
    Case("ack range as a map", {0: 16, 1: [{0: 1}]}),
    Case("command without kind", {0: 17, 1: 1}),
    Case("command kind past the table", {0: 17, 1: 1, 2: len(messages.COMMANDS) + 1}),
    Case("set_config with an unknown setting", {0: 17, 1: 1, 2: 1, 3: {99: 1}},
         bugs=[PYCDDL_OPEN_MAP]),
    Case("set_config with a text setting key", {0: 17, 1: 1, 2: 1, 3: {"room": "x"}},
         bugs=[PYCDDL_OPEN_MAP]),
    Case("set_config heartbeat 9 s", {0: 17, 1: 1, 2: 1, 3: {1: 9}}),
    Case("set_config door contact 1", {0: 17, 1: 1, 2: 1, 3: {10: 1}}),
    Case("set_config room 17 bytes", {0: 17, 1: 1, 2: 1, 3: {11: "r" * 17}}),
    Case("set_time offset 841", {0: 17, 1: 1, 2: 2, 4: 1, 5: 841}, bugs=NINT),
    Case("set_time offset -841", {0: 17, 1: 1, 2: 2, 4: 1, 5: -841}),
    Case("9 doses", {0: 17, 1: 1, 2: 3, 6: [[i, 1] for i in range(9)]},
         bugs=[PYCDDL_ARRAY_OF_ARRAYS]),
    Case("dose at minute 1440", {0: 17, 1: 1, 2: 3, 6: [[1440, 1]]}),
    Case("dose id 256", {0: 17, 1: 1, 2: 3, 6: [[0, 256]]}),
    Case("identify for 0 s", {0: 17, 1: 1, 2: 4, 7: 0}),
    Case("identify for 601 s", {0: 17, 1: 1, 2: 4, 7: 601}),
    Case("calibrate with reference 3", {0: 17, 1: 1, 2: 6, 8: 3}),
]
# Not in the list: rules the CDDL states only in comments, which messages.py enforces on its
# own -- which optional command fields each command kind needs (messages.COMMAND_FIELDS), that
# a set_config carries at least one setting, that doses are in increasing time order and that
# an ack range has first <= last. See test_rules_only_messages_py_can_enforce_are_enforced.


@pytest.mark.parametrize(("tool", "wire"), per_tool(SCHEMA_VIOLATIONS))
def test_cddl_refuses_what_messages_py_refuses(tool: Tool, wire: Any) -> None:
    assert not messages_accepts(wire)
    cddl_says(tool, "message", cbor.encode(wire), False)


@pytest.mark.parametrize("case", SCHEMA_VIOLATIONS, ids=[c.id for c in SCHEMA_VIOLATIONS])
def test_every_violation_is_caught_by_a_validator(case: Case) -> None:
    # The known bugs never leave a violation unseen by both: the schema is checked everywhere.
    assert {bug.tool for bug in case.bugs} != {tool.name for tool in TOOLS}
    assert not all(tool.accepts("message", cbor.encode(case.values[0])) for tool in TOOLS)


def _p(what: str, wire: Any) -> Any:
    return pytest.param(wire, id=what)


@pytest.mark.parametrize(
    "wire",
    [
        _p("set_config without config", {0: 17, 1: 1, 2: 1}),
        _p("set_config with no setting", {0: 17, 1: 1, 2: 1, 3: {}}),
        _p("reboot with a config", {0: 17, 1: 1, 2: 5, 3: {1: 60}}),
        _p("set_time without offset", {0: 17, 1: 1, 2: 2, 4: 1}),
        _p("identify without seconds", {0: 17, 1: 1, 2: 4}),
        _p("prompt without seconds", {0: 17, 1: 1, 2: 8}),
        _p("indicate with seconds", {0: 17, 1: 1, 2: 7, 7: 60}),
        _p("doses out of order", {0: 17, 1: 1, 2: 3, 6: [[600, 1], [500, 2]]}),
        _p("two doses at the same minute", {0: 17, 1: 1, 2: 3, 6: [[600, 1], [600, 2]]}),
        _p("ack range backwards", {0: 16, 1: [[5, 4]]}),
    ],
)
def test_rules_only_messages_py_can_enforce_are_enforced(wire: Any) -> None:
    assert not messages_accepts(wire)


# --- enumerations and ranges agree ---------------------------------------------------------------

def cddl_rules() -> dict[str, str]:
    """Every rule of the CDDL as {name: definition}, comments removed, lines joined."""
    rules: dict[str, str] = {}
    name = ""
    for line in CDDL_TEXT.splitlines():
        line = re.sub(r";.*", "", line).rstrip()  # trygg.cddl has no ';' inside a string
        start = re.match(r"([\w-]+)\s*=\s*(.*)", line)
        if start:
            name = start.group(1)
            rules[name] = start.group(2)
        elif line:
            rules[name] += " " + line.strip()
    return {name: re.sub(r"\s+", " ", text).strip() for name, text in rules.items()}


RULES = cddl_rules()


def cddl_enumerations() -> dict[str, dict[str, int]]:
    """Every enumeration of the CDDL, ``name = name-a / name-b`` with ``name-a = 1`` ...,
    as {name: {label: value}}: the label is the constant's name after the enumeration's first
    word (role-motion: motion; reset-power-on: power-on)."""
    constants = {name: int(text) for name, text in RULES.items() if re.fullmatch(r"\d+", text)}
    found = {}
    for name, text in RULES.items():
        members = [m.strip() for m in text.split("/")]
        if len(members) < 2 or not all(m in constants for m in members):
            continue
        prefix = name.split("-")[0] + "-"
        assert all(m.startswith(prefix) for m in members), (name, members)
        found[name] = {m[len(prefix):]: constants[m] for m in members}
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


def test_cddl_algorithms_and_tag_sizes_are_those_of_cose_py() -> None:
    assert cddl_enumerations()["alg"] == {"hmac-256-64": cose.ALG_HMAC_256_64,
                                          "hmac-256-256": cose.ALG_HMAC_256_256}
    sizes = {RULES[member] for member in RULES["mac-tag"].split(" / ")}
    assert sizes == {f"bstr .size {n}" for n in cose.TAG_LENGTHS.values()}


def test_every_cddl_enumeration_is_checked() -> None:
    assert set(cddl_enumerations()) == {rule for rule, _table in ENUMERATIONS} | {"alg"}


def test_message_type_codes_and_directions_agree_with_the_cddl() -> None:
    members = {}
    for direction in (cose.UP, cose.DOWN):
        group = RULES["up-message" if direction == cose.UP else "down-message"]
        for rule in group.split(" / "):
            members[rule.replace("-", "_")] = direction
    codes = {}
    for rule in members:
        body = re.match(r"\{ 0 => (\d+),", RULES[rule.replace("_", "-")])
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
        (r"\(nint \.ge (-\d+)\) / \(0\.\.(\d+)\)", "int"),
        (r"\(nint \.ge (-\d+)\) / (0)", "int"),
        (r"\[(\d+)\*(\d+) seq-range\]", "ranges"),
        (r"\[(\d+)\*(\d+) dose\]", "doses"),
    ]
    for pattern, kind in forms:
        match = re.fullmatch(pattern, text)
        if match:
            return kind, int(match.group(1)), int(match.group(2))
    if text in RULES:
        return cddl_value_kind(RULES[text])
    raise AssertionError("unknown CDDL form in trygg.cddl: " + text)


def cddl_message_fields(rule: str) -> dict[int, tuple[bool, str, Any, Any]]:
    """A message map of the CDDL as {key: (required, kind, lo, hi)}, the type key left out."""
    body = RULES[rule]
    assert body.startswith("{"), rule
    assert body.endswith("}"), rule
    fields = {}
    for entry in (e.strip() for e in body[1:-1].split(",") if e.strip()):
        entry_match = re.fullmatch(r"(\?\s*)?(\d+)\s*=>\s*(.+)", entry)
        assert entry_match is not None, entry
        key = int(entry_match.group(2))
        if key:
            fields[key] = (not entry_match.group(1), *cddl_value_kind(entry_match.group(3)))
    return fields


@pytest.mark.parametrize("msg_type", sorted(messages.FIELDS))
def test_message_fields_agree_with_the_cddl_text(msg_type: str) -> None:
    # Independent of either validator: the CDDL's own words against messages.FIELDS.
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


def known_bugs(kind: str, lo: Any, hi: Any, value: Any) -> list[Bug]:
    """The validator bugs a boundary value meets (see the module docstring)."""
    if isinstance(value, bytes):
        return [PYCDDL_BSTR_AS_NUMBER_OR_TEXT]
    if isinstance(value, str) and len(value) <= hi < len(value.encode("utf-8")):
        return [ZCBOR_TSTR_SIZE_IN_CHARACTERS]
    if kind == "int" and lo < 0 and isinstance(value, int) and value > hi:
        return [PYCDDL_NINT_UPPER_BOUND]
    return []


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
    "command/prompt": {"type": "command", "command_id": 1, "command": "prompt", "seconds": 120},
    "command/calibrate": {"type": "command", "command_id": 1, "command": "calibrate",
                          "reference": "empty"},
}


def field_boundary_cases() -> list[Case]:
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
                cases.append(Case(f"{base_name}.{name}={value!r}", with_value(base, name, value),
                                  allowed, bugs=known_bugs(kind, lo, hi, value)))
    return cases


@pytest.mark.parametrize(("tool", "wire", "allowed"), per_tool(field_boundary_cases()))
def test_field_limits_are_the_same_in_the_cddl_and_messages_py(tool: Tool, wire: Any,
                                                               allowed: bool) -> None:
    assert messages_accepts(wire) is allowed
    cddl_says(tool, "message", cbor.encode(wire), allowed)


def config_boundary_cases() -> list[Case]:
    cases = []
    for name, (key, kind, lo, hi) in messages.CONFIG_KEYS.items():
        for value, allowed in boundary_values(kind, lo, hi):
            if kind == "uint" and value < 0:
                continue  # a negative number is no uint anywhere; covered by uint fields above
            cases.append(Case(f"{name}={value!r}", {0: 17, 1: 1, 2: 1, 3: {key: value}}, allowed,
                              bugs=known_bugs(kind, lo, hi, value)))
    return cases


@pytest.mark.parametrize(("tool", "wire", "allowed"), per_tool(config_boundary_cases()))
def test_config_limits_are_the_same_in_the_cddl_and_messages_py(tool: Tool, wire: Any,
                                                                allowed: bool) -> None:
    assert messages_accepts(wire) is allowed
    cddl_says(tool, "message", cbor.encode(wire), allowed)


EVERY_SETTING = {"type": "command", "command_id": 1, "command": "set_config", "config": {
    name: True if kind == "bool" else "r" * lo if kind == "tstr" else lo
    for name, (_key, kind, lo, _hi) in messages.CONFIG_KEYS.items()}}


@pytest.mark.parametrize(("tool", "wire", "allowed"), per_tool([
    Case("ack 1 range", {0: 16, 1: [[0, 0]]}, True),
    Case("ack 8 ranges", {0: 16, 1: [[i, i] for i in range(8)]}, True),
    Case("ack up to 2^40-1", {0: 16, 1: [[0, cose.MAX_SEQ]]}, True),
    Case("ack up to 2^40", {0: 16, 1: [[0, cose.MAX_SEQ + 1]]}, False),
    Case("ack from -1", {0: 16, 1: [[-1, 0]]}, False),
    Case("no doses", {0: 17, 1: 1, 2: 3, 6: []}, True),
    Case("8 doses up to minute 1439",
         {0: 17, 1: 1, 2: 3, 6: [[i, 255] for i in range(1432, 1440)]}, True),
    Case("dose at minute -1", {0: 17, 1: 1, 2: 3, 6: [[-1, 0]]}, False),
    Case("reboot", {0: 17, 1: 1, 2: 5}, True),
    Case("set_config with every setting", messages.to_wire(EVERY_SETTING), True),
]))
def test_composite_field_limits_are_the_same_in_the_cddl_and_messages_py(
        tool: Tool, wire: Any, allowed: bool) -> None:
    assert messages_accepts(wire) is allowed
    cddl_says(tool, "message", cbor.encode(wire), allowed)


# --- envelope and protected header ---------------------------------------------------------------

GOOD = frame.seal({"type": "event", "uptime": 5, "event": "motion"}, MAC_KEY, KID, 7)


def cose_parses(data: bytes) -> bool:
    try:
        cose.parse(data)
    except ProtocolError:
        return False
    return True


@pytest.mark.parametrize(("tool", "protected_hex", "cddl_allows", "cose_allows"), per_tool([
    Case("alg 4, seq 7", "a2010406 4107", True, True),
    Case("5-byte Partial IV", "a2010406 45ffffffffff", True, True),
    # CDDL states the Partial IV's size only; "no leading zero bytes" (RFC 8613 §6.1) is
    # a comment there and enforced by cose.py alone.
    Case("Partial IV with a leading zero", "a2010506 4500ffffffff", True, False),
    Case("alg 6 (HMAC 384/384)", "a2010606 4107", False, False),
    Case("6-byte Partial IV", "a2010406 4600ffffffffff", False, False),
    Case("empty Partial IV", "a2010406 40", False, False),
    Case("no Partial IV", "a10104", False, False),
    Case("a kid in the protected header too", "a3010404 4101 064107", False, False),
    Case("Partial IV as an integer", "a2010406 07", False, False),
]))
def test_protected_header_limits_agree(tool: Tool, protected_hex: str, cddl_allows: bool,
                                       cose_allows: bool) -> None:
    protected = bytes.fromhex(protected_hex.replace(" ", ""))
    in_frame = GOOD.replace(bytes.fromhex("46a20104064107"),
                            bytes([0x40 | len(protected)]) + protected, 1)
    assert cose_parses(in_frame) is cose_allows  # first: a validator's xfail never excuses it
    cddl_says(tool, "protected-header", protected, cddl_allows)


@pytest.mark.parametrize(("tool", "frame_hex", "allowed"), per_tool([
    Case("event", GOOD.hex(), True),
    Case("16-byte kid", GOOD.hex().replace("a10446" + KID.hex(), "a1044d" + "00" * 13), True),
    Case("17-byte kid", GOOD.hex().replace("a10446" + KID.hex(), "a10451" + "00" * 17), False),
    Case("empty kid", GOOD.hex().replace("a10446" + KID.hex(), "a10440"), False),
    Case("alg in the unprotected header too", GOOD.hex().replace("a10446", "a201040446"), False,
         bugs=[PYCDDL_OPEN_MAP]),
    Case("7-byte tag", GOOD.hex()[:-18] + "47" + "00" * 7, False),
    Case("tag 18 (COSE_Sign1)", "d2" + GOOD.hex()[2:], False),
]))
def test_envelope_limits_agree(tool: Tool, frame_hex: str, allowed: bool) -> None:
    data = bytes.fromhex(frame_hex)
    assert cose_parses(data) is allowed  # first: a validator's xfail never excuses it
    cddl_says(tool, ENVELOPE, data, allowed)
