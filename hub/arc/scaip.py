"""SCAIP (SS 91100:2014, CLC/TS 50134-9): the alarm messages, sans I/O.

SCAIP carries a social-alarm event as a small XML document in a SIP MESSAGE (RFC 3428,
``Content-Type: application/scaip+xml``): the local unit and controller (here the hub) sends a
request ``<mrq>``, the alarm receiving centre answers with a response ``<mrs>``. This module
builds and reads those documents and judges a response; it opens no socket and reads no clock.
The SIP side is ``scaip_sip.py``, the link that puts the two together ``scaip_link.py``.

What we could and could not check (the standard and its implementation guideline SIS-TR 91102
are sold by SIS; neither was readable for this work):
- Checked against public descriptions (SIS's abstract of SS 91100:2014, the CENELEC abstract of
  CLC/TS 50134-9:2018, a SCAIP service provider's API documentation): SCAIP is an XML schema
  carried over SIP between a local unit/controller and an ARC; an event names the controller,
  the device, its type and component, a status code and a location (code, value or text).
- Taken from the project's own notes on the standard, NOT verified here: the element names
  (``mrq``/``mrs`` and their three-letter children), the code widths, the numeric device types
  and status codes in ``DEVICE_TYPES`` / ``STATUS_CODES``, and the meaning of ``snu`` values.
  Rows in ``SCAIP_CODES`` that no published code fits are marked ``verified=False`` and carry
  the Trygg kind in ``stt`` so an operator reads what happened whatever the code says.
- The namespace, if the schema has one, is not known to us: we send none and accept any.

Every input is hostile: ``parse_mrs`` / ``parse_mrq`` take at most ``MAX_DOCUMENT`` bytes, refuse
DTDs and entities (defusedxml), and raise :class:`ScaipError` for everything else that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from .report import AlarmReport

CONTENT_TYPE = "application/scaip+xml"

# An <mrq> with every optional field is under 1 KB; RFC 3428 §8 asks MESSAGE bodies to stay
# small (under 1300 bytes on a path that may fragment). 8 KB leaves a peer room for long texts
# and refuses anything that is not a SCAIP message before it costs memory.
MAX_DOCUMENT = 8 * 1024
# Field lengths: ref 1-16 alphanumerics (SS 91100); texts are cut to this many characters,
# which keeps a full <mrq> inside one UDP datagram.
MAX_REF = 16
MAX_TEXT = 200
MAX_CRD = 4  # voice channels per request (gsm:, sip:, no-voice:); more are of no use

# Message types (mty).
MTY_EVENT = "ME"  # a new event (the default when mty is absent)
MTY_RESET = "RE"  # cancel the event of the same ref (after a final failure on this path)
MTY_INFO = "IN"  # more information within the session of the same ref
MTY_PING = "PI"  # heartbeat
MESSAGE_TYPES = (MTY_EVENT, MTY_RESET, MTY_INFO, MTY_PING)

# Response status numbers (snu) and what the unit must do on each.
SNU_OK = 0
SNU_HOLD = 4  # resend the same request every 5-20 s, for at least 3 and at most 30 minutes
SNU_NOT_TREATED = 5  # the centre will not treat it: take the next alarm path
SNU_BUSY = 6
SNU_ERRORS = {1: "error in the message", 2: "unknown controller (cid)",
              3: "unknown or unsupported value", 7: "not allowed",
              10: "ARC internal error", 99: "unspecified error"}

# Device types (dty) and status codes (stc), four digits on the wire.
DEVICE_TYPES = {
    2: "local unit (the hub)",
    5: "fall detector",
    10: "activity detector",
    11: "pill dispenser",
    12: "bed monitor",
    14: "door sensor",
    23: "smoke detector",
}
STATUS_CODES = {
    9: "alarm, automatic",
    10: "alarm, manual",
    16: "battery low",
    19: "cancel",
    23: "IP link failure",
    81: "pill not taken",
    94: "restoral",
    102: "test (primary path)",
    103: "test (redundant path)",
    112: "IP link re-established",
    117: "lying in bed",
    125: "tamper",
}
DTY_LOCAL_UNIT = 2
STC_ALARM_AUTOMATIC = 9
STC_ALARM_MANUAL = 10
STC_CANCEL = 19
STC_RESTORAL = 94
STC_TEST_PRIMARY = 102
STC_TEST_REDUNDANT = 103

_REF_RE = re.compile(r"[A-Za-z0-9]{1,16}")
_DIGITS_RE = re.compile(r"[0-9]{1,20}")
_CRD_RE = re.compile(r"(no-voice:|gsm:\+?[0-9]{3,20}|sips?:[^\s<>\"]{3,120})")


class ScaipError(ValueError):
    """A SCAIP document or field is invalid; the message names the element and the limit."""


@dataclass(frozen=True)
class ScaipCode:
    """How one Trygg alarm kind is sent in SCAIP."""

    kind: str
    dty: int  # device type
    stc: int | None  # status code when raised (None: omitted, which means "alarm")
    verified: bool  # True when dty and stc are codes named for this meaning (module docstring)
    note: str  # why this code, for the README and a reviewer


# The Trygg-to-SCAIP table (read by the encoder, the console and the README).
# Resolved events send the same dty with stc 0094 (restoral); tests send 0102 on the first
# receiver and 0103 on the others (the redundant path).
SCAIP_CODES: dict[str, ScaipCode] = {c.kind: c for c in (
    ScaipCode("fire", 23, STC_ALARM_AUTOMATIC, True, "smoke detector, automatic alarm"),
    ScaipCode("device_fall", 5, STC_ALARM_AUTOMATIC, True, "fall detector, automatic alarm"),
    ScaipCode("possible_fall", DTY_LOCAL_UNIT, STC_ALARM_AUTOMATIC, True,
              "the hub's own judgement from bed and motion sensors: local unit, automatic "
              "alarm; stt names the kind"),
    ScaipCode("assistance", DTY_LOCAL_UNIT, STC_ALARM_MANUAL, True,
              "the resident pressed a button or call point: manual alarm"),
    ScaipCode("inactivity", 10, STC_ALARM_AUTOMATIC, True,
              "activity detector, automatic alarm (the code units use for inactivity)"),
    ScaipCode("not_up", 12, 117, True, "bed monitor, lying in bed"),
    ScaipCode("missed_dose", 11, 81, True, "pill dispenser, pill not taken"),
    ScaipCode("dispenser_problem", 11, STC_ALARM_AUTOMATIC, False,
              "no fault code known to us: pill dispenser, automatic alarm; stt names the fault"),
    ScaipCode("device_silent", DTY_LOCAL_UNIT, STC_ALARM_AUTOMATIC, False,
              "no supervision-loss code known to us: local unit, automatic alarm; stt and did "
              "name the silent device"),
    ScaipCode("low_battery", DTY_LOCAL_UNIT, 16, True, "battery low; did names the device"),
    ScaipCode("tamper", DTY_LOCAL_UNIT, 125, True, "tamper; did names the device"),
    ScaipCode("smoke_fault", 23, STC_ALARM_AUTOMATIC, False,
              "no fault code known to us: smoke detector, automatic alarm; stt names the fault"),
    ScaipCode("rejected_frames", DTY_LOCAL_UNIT, STC_ALARM_AUTOMATIC, False,
              "no jamming code known to us: local unit, automatic alarm; stt says what"),
    ScaipCode("sensors_unreachable", DTY_LOCAL_UNIT, STC_ALARM_AUTOMATIC, False,
              "no code known to us for a unit that hears none of its sensors: local unit, "
              "automatic alarm; stt says what"),
    ScaipCode("test", DTY_LOCAL_UNIT, STC_TEST_PRIMARY, True,
              "test transmission: 0102 on the primary path, 0103 on a redundant one"),
    ScaipCode("receiver_unreachable", DTY_LOCAL_UNIT, 23, True,
              "IP link failure; resolved as 0112, IP link re-established"),
)}
# Kinds whose end is not a restoral (0094) but a code of its own.
_RESOLVED_STC = {"receiver_unreachable": 112}


@dataclass(frozen=True)
class Mrq:
    """A SCAIP request. Raises ScaipError naming the field when a value is out of range."""

    ref: str
    cid: str
    dty: int
    mty: str = MTY_EVENT
    stc: int | None = None
    dco: int | None = None  # device component (which button, which sensor of a device)
    dte: str | None = None  # device text
    did: str | None = None  # device id
    crd: tuple[str, ...] = ()  # voice channels for the operator: no-voice:, gsm:+46..., sip:...
    pri: int | None = None  # 0-9
    lco: int | None = None  # location code
    lva: str | None = None  # location value
    lte: str | None = None  # location text
    stt: str | None = None  # status text
    ver: str | None = None  # sender's version
    hbo: int | None = None  # heartbeat interval the unit offers, minutes

    def __post_init__(self) -> None:
        if not isinstance(self.ref, str) or not _REF_RE.fullmatch(self.ref):
            raise ScaipError(f"mrq.ref: {self.ref!r} is not 1-{MAX_REF} letters and digits")
        if not isinstance(self.cid, str) or not _DIGITS_RE.fullmatch(self.cid):
            raise ScaipError(f"mrq.cid: {self.cid!r} is not 1-20 digits")
        if self.mty not in MESSAGE_TYPES:
            raise ScaipError(f"mrq.mty: {self.mty!r} (one of {', '.join(MESSAGE_TYPES)})")
        _check_code("dty", self.dty, 9999)
        for name, limit in (("stc", 9999), ("dco", 999), ("lco", 999), ("pri", 9),
                            ("hbo", 1440)):
            value = getattr(self, name)
            if value is not None:
                _check_code(name, value, limit)
        for name in ("dte", "did", "lva", "lte", "stt", "ver"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise ScaipError(f"mrq.{name}: not text of at most {MAX_TEXT} characters")
        if len(self.crd) > MAX_CRD:
            raise ScaipError(f"mrq.crd: {len(self.crd)} voice channels, at most {MAX_CRD}")
        for channel in self.crd:
            if not isinstance(channel, str) or not _CRD_RE.fullmatch(channel):
                raise ScaipError(f"mrq.crd: {channel!r} is not no-voice:, gsm:+<digits> or "
                                 "a sip: URI")


@dataclass(frozen=True)
class Mrs:
    """A SCAIP response: the centre's verdict on the request of the same ``ref``."""

    ref: str
    snu: int
    mre: str | None = None  # voice instructions (media reference, call reference, number)
    cre: str | None = None
    tnu: str | None = None
    hbi: int | None = None  # heartbeat interval the centre asks for, minutes
    extra: Mapping[str, str] = field(default_factory=dict)  # elements this module ignores


def _check_code(name: str, value: object, limit: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ScaipError(f"mrq.{name}: {value!r} (0..{limit})")


# Field order on the wire, and the width of each numeric code: SCAIP units send full-width
# codes (four-digit dty and stc, three-digit dco and lco) and some receivers compare strings.
_MRQ_ORDER = ("ref", "mty", "cid", "dty", "dco", "dte", "did", "stc", "stt", "pri", "lco", "lva",
              "lte", "crd", "ver", "hbo")
_WIDTH = {"dty": 4, "stc": 4, "dco": 3, "lco": 3}


def encode_mrq(mrq: Mrq) -> bytes:
    """The request as UTF-8 XML, without an XML declaration (receivers differ in how they
    treat one; SCAIP documents are sent without)."""
    root = Element("mrq")
    for name in _MRQ_ORDER:
        value = getattr(mrq, name)
        if name == "crd":
            for channel in value:
                SubElement(root, "crd").text = channel
            continue
        if value is None or (name == "mty" and value == MTY_EVENT):
            continue
        text = f"{value:0{_WIDTH[name]}d}" if name in _WIDTH else str(value)
        SubElement(root, name).text = text
    encoded: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return encoded


def encode_mrs(mrs: Mrs) -> bytes:
    """The response (the console's side)."""
    root = Element("mrs")
    SubElement(root, "ref").text = mrs.ref
    SubElement(root, "snu").text = str(mrs.snu)
    for name in ("mre", "cre", "tnu"):
        value = getattr(mrs, name)
        if value is not None:
            SubElement(root, name).text = value
    if mrs.hbi is not None:
        SubElement(root, "hbi").text = str(mrs.hbi)
    encoded: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return encoded


def _parse(body: bytes | str, root_name: str) -> dict[str, list[str]]:
    """The children of a flat SCAIP document as {name: [texts]}: namespaces dropped, names
    lower-cased, texts stripped. Raises ScaipError."""
    raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    if len(raw) > MAX_DOCUMENT:
        raise ScaipError(f"<{root_name}>: {len(raw)} bytes, at most {MAX_DOCUMENT}")
    if not raw.strip():
        raise ScaipError(f"<{root_name}>: empty body")
    try:
        root = safe_xml.fromstring(raw, forbid_dtd=True, forbid_entities=True,
                                   forbid_external=True)
    except DefusedXmlException as exc:
        raise ScaipError(f"<{root_name}>: refused ({type(exc).__name__}: DTDs and entities "
                         "are not allowed)") from None
    except (ParseError, ValueError) as exc:
        raise ScaipError(f"<{root_name}>: not well-formed XML ({exc})") from None
    if _local(root.tag) != root_name:
        raise ScaipError(f"<{root_name}>: the document is <{_local(root.tag)}>")
    fields: dict[str, list[str]] = {}
    for child in root:
        if len(child):
            raise ScaipError(f"<{root_name}>: <{_local(child.tag)}> has child elements; SCAIP "
                             "fields are plain text")
        fields.setdefault(_local(child.tag), []).append((child.text or "").strip())
    return fields


def _local(tag: object) -> str:
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1].strip().lower()


def _one(fields: dict[str, list[str]], name: str, doc: str, *,
         required: bool = False) -> str | None:
    values = fields.get(name)
    if not values or values[0] == "":
        if required:
            raise ScaipError(f"<{doc}>: <{name}> is missing or empty")
        return None
    if len(values) > 1:
        raise ScaipError(f"<{doc}>: <{name}> appears {len(values)} times")
    return values[0]


def _int(text: str | None, name: str, doc: str, limit: int) -> int | None:
    """Lenient numbers: "2", "02" and "0002" are the same code."""
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 8:
        raise ScaipError(f"<{doc}>: <{name}> {text[:20]!r} is not a number")
    value = int(text)
    if value > limit:
        raise ScaipError(f"<{doc}>: <{name}> {value} (0..{limit})")
    return value


def parse_mrs(body: bytes | str) -> Mrs:
    """Read a centre's ``<mrs>`` leniently (no namespace needed, codes of any width, stray
    spaces). Raises ScaipError for anything else."""
    fields = _parse(body, "mrs")
    ref = _one(fields, "ref", "mrs", required=True)
    assert ref is not None
    if not _REF_RE.fullmatch(ref):
        raise ScaipError(f"<mrs>: <ref> {ref[:20]!r} is not 1-{MAX_REF} letters and digits")
    snu = _int(_one(fields, "snu", "mrs", required=True), "snu", "mrs", 9999)
    assert snu is not None
    hbi = _int(_one(fields, "hbi", "mrs"), "hbi", "mrs", 1440)
    texts = {name: (_one(fields, name, "mrs") or "")[:MAX_TEXT] or None
             for name in ("mre", "cre", "tnu")}
    extra = {k: v[0][:MAX_TEXT] for k, v in fields.items()
             if k not in ("ref", "snu", "hbi", "mre", "cre", "tnu")}
    return Mrs(ref=ref, snu=snu, hbi=hbi, extra=extra, **texts)


def parse_mrq(body: bytes | str) -> Mrq:
    """Read a unit's ``<mrq>`` leniently (the console's side). Raises ScaipError."""
    fields = _parse(body, "mrq")
    ints = {name: _int(_one(fields, name, "mrq"), name, "mrq", limit)
            for name, limit in (("dty", 9999), ("stc", 9999), ("dco", 999), ("lco", 999),
                                ("pri", 9), ("hbo", 1440))}
    dty = ints.pop("dty")
    if dty is None:
        raise ScaipError("<mrq>: <dty> is missing or empty")
    texts = {name: _one(fields, name, "mrq") for name in ("dte", "did", "lva", "lte", "stt",
                                                           "ver")}
    mty = (_one(fields, "mty", "mrq") or MTY_EVENT).upper()
    return Mrq(ref=_one(fields, "ref", "mrq", required=True) or "",
               cid=_one(fields, "cid", "mrq", required=True) or "",
               dty=dty, mty=mty, crd=tuple(c for c in fields.get("crd", ()) if c),
               **ints, **texts)  # type: ignore[arg-type]


# -- judging a response ------------------------------------------------------------------

ACCEPTED = "accepted"  # snu 0: the centre has the event
HOLD = "hold"  # snu 4: resend the same request later
NEXT_PATH = "next_path"  # snu 5 or an error: reset (RE) and take the next alarm path
BUSY = "busy"  # snu 6


@dataclass(frozen=True)
class Judgement:
    verdict: str  # ACCEPTED | HOLD | NEXT_PATH | BUSY
    detail: str  # for a person: "snu 6 busy"


def judge(mrs: Mrs) -> Judgement:
    """What the unit does on ``mrs``: an event is handled only on snu 0."""
    if mrs.snu == SNU_OK:
        return Judgement(ACCEPTED, "snu 0 OK")
    if mrs.snu == SNU_HOLD:
        return Judgement(HOLD, "snu 4 HOLD: resend later")
    if mrs.snu == SNU_BUSY:
        return Judgement(BUSY, "snu 6 busy")
    if mrs.snu == SNU_NOT_TREATED:
        return Judgement(NEXT_PATH, "snu 5 not treated: next alarm path")
    reason = SNU_ERRORS.get(mrs.snu, "unknown status number")
    return Judgement(NEXT_PATH, f"snu {mrs.snu} {reason}")


# -- Trygg reports as SCAIP requests -----------------------------------------------------

def stc_for(report: AlarmReport, *, redundant_path: bool = False) -> int | None:
    """The status code of ``report`` (KeyError for a kind missing from SCAIP_CODES)."""
    code = SCAIP_CODES[report.kind]
    if report.event == "test":
        return STC_TEST_REDUNDANT if redundant_path else STC_TEST_PRIMARY
    if report.event == "resolved":
        return _RESOLVED_STC.get(report.kind, STC_RESTORAL)
    return code.stc


def mrq_for_report(report: AlarmReport, *, ref: str, cid: str, crd: tuple[str, ...] = (),
                   redundant_path: bool = False, version: str | None = None,
                   hbo: int | None = None) -> Mrq:
    """The request for ``report``: the zone as location code, the room as location text, the
    Trygg kind and description as status text (an operator reads the kind whatever code the
    receiver knows), the hub's priority as pri (1 fire ... 5 technical). Without a voice
    channel the request says ``no-voice:`` (the hub has no speakerphone)."""
    code = SCAIP_CODES[report.kind]
    text = f"{report.kind}: {report.description}" if report.description else report.kind
    return Mrq(
        ref=ref, cid=cid, dty=code.dty, stc=stc_for(report, redundant_path=redundant_path),
        dco=min(report.zone, 999), did=report.device_id[:MAX_TEXT] if report.device_id else None,
        crd=crd or ("no-voice:",), pri=report.priority, lco=report.zone,
        lte=report.room[:MAX_TEXT] if report.room else None, stt=text[:MAX_TEXT],
        ver=version, hbo=hbo)


def heartbeat_mrq(*, ref: str, cid: str, hbo: int | None = None) -> Mrq:
    """A heartbeat (mty PI) from the local unit."""
    return Mrq(ref=ref, cid=cid, dty=DTY_LOCAL_UNIT, mty=MTY_PING, hbo=hbo)


def reset_mrq(mrq: Mrq) -> Mrq:
    """The reset (mty RE) of ``mrq``: same ref, sent when this path failed finally."""
    return Mrq(ref=mrq.ref, cid=mrq.cid, dty=mrq.dty, mty=MTY_RESET, stc=mrq.stc, did=mrq.did)


def describe_code(table: Mapping[int, str], code: int | None) -> str:
    if code is None:
        return "-"
    return f"{code:04d} {table.get(code, 'unknown code')}"


def code_table_markdown() -> str:
    """The README's Trygg-to-SCAIP table, generated from SCAIP_CODES."""
    lines = ["| Trygg alarm | dty (device type) | stc raised | stc resolved | Checked | Why |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in SCAIP_CODES.values():
        resolved = ("-" if row.kind == "test" else
                    describe_code(STATUS_CODES, _RESOLVED_STC.get(row.kind, STC_RESTORAL)))
        raised = ("0102 / 0103 test" if row.kind == "test"
                  else describe_code(STATUS_CODES, row.stc))
        lines.append(f"| `{row.kind}` | {describe_code(DEVICE_TYPES, row.dty)} | {raised} "
                     f"| {resolved} | {'yes' if row.verified else 'no'} | {row.note} |")
    return "\n".join(lines) + "\n"
