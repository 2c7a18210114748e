"""SOS Access v4 as a centre protocol: the alarm operator's XML interface (SOS Alarm, Sweden).

The protocol, as its public description gives it: XML documents in ISO-8859-1 over TCP
(optionally TLS), one connection per request, no length framing: the client sends one
document, the server answers with one and closes. Requests are ``<alarmrequest>`` (answered
by ``<alarmresponse>``), ``<pingrequest>`` (heartbeat, ``<pingresponse>``) and
``<requestnewauthentication>`` (password rotation, ``<requestnewauthenticationresponse>``).
A document is at most 100,000 characters. The transmitter's 15-character password
(``authentication``) comes from the operator and is replaced through
``requestnewauthentication`` once the link works, so the installer no longer knows it; it is
kept in a file of its own, mode 0600, and never printed.

Answers (status, info), judged for the forwarder:

=======  ==============================  =========================================
status   info                            verdict
=======  ==============================  =========================================
0        OK                              delivered
10       DUPLICATED_ALARM                delivered (the centre has it already)
5, 99    NOT_TREATED_NOT_DISTRIBUTED,    fail over: next receiver for this report
         OTHER_ERROR
98       SERVER_ERROR                    fail over (the receiver cannot treat it now)
4 / 6    NOT_AUTHORIZED                  fail over, and the link counts as down for
                                         heartbeats: the operator must act
1-3, 7   message errors                  fail over (this receiver will not take it
100                                      as it is; another path may)
9        SERVICE_UNAVAILABLE (no         heartbeat answered: link up
         heartbeat service)
101      PING_TO_OFTEN                   heartbeat answered; heartbeats slow down
=======  ==============================  =========================================

The info text is keyed as well as the number: the public description gives NOT_AUTHORIZED as
status 4 in its table and 6 in its example, and its new-password example names the element
``<authentication>`` where the table says ``<newauthentication>``; both are accepted.

Heartbeats (``pingrequest``) at the agreed service level: 25 h, 5 h, 180 s or 90 s; at least
two and at most six per level interval, so the hub sends four. The two short levels require a
failover receiver (a second ``[[arc.receivers]]``), which the configuration checks.

Every transmission of a report carries the same ``reference``, made from the outbox's message
number and the report's identity, so the centre's duplicate detection sees a retransmission
as one alarm (status 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import ssl
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from xml.parsers import expat
from xml.sax.saxutils import escape

from ...config_reader import TableReader
from ...crash_points import crash_point
from ...private_files import read_secret, write_secret
from ...rules.alarm_kinds import KINDS
from .. import codes
from ..protocol import (
    DELIVERED,
    FAILOVER,
    HOLD_BACK,
    UNREACHABLE,
    CentreLink,
    CentreProtocol,
    Clock,
    Outcome,
    ReceiverConfig,
)
from ..report import AlarmReport

if TYPE_CHECKING:
    from ..config import ArcConfig

log = logging.getLogger("trygg.hub.arc")

ENCODING = "iso-8859-1"
XML_DECLARATION = '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
# The description's limit for one telegram, header and tags included.
MAX_DOCUMENT = 100_000
AUTH_LENGTH = 15

REQUESTS = ("alarmrequest", "pingrequest", "requestnewauthentication")
RESPONSES = {"alarmrequest": "alarmresponse", "pingrequest": "pingresponse",
             "requestnewauthentication": "requestnewauthenticationresponse"}

# Heartbeat service levels (seconds) by the name a technician writes.
HEARTBEAT_LEVELS = {"25h": 90_000.0, "5h": 18_000.0, "180s": 180.0, "90s": 90.0}
# "At least three heartbeats per service level time but no more than six": four.
HEARTBEATS_PER_LEVEL = 4
SHORT_LEVELS = ("180s", "90s")  # these require failover to a second receiver

STATUS_INFO = {
    0: "OK", 1: "INVALID_LENGTH", 2: "INVALID_XML", 3: "WRONG_CONTENT", 4: "NOT_AUTHORIZED",
    5: "NOT_TREATED_NOT_DISTRIBUTED", 7: "MANDATORY_DATA_MISSING", 9: "SERVICE_UNAVAIVABLE",
    10: "DUPLICATED_ALARM", 98: "SERVER_ERROR", 99: "OTHER_ERROR",
    100: "XML_HEADER_MISSING_OR_INVALID", 101: "PING_TO_OFTEN",
}
OK, DUPLICATE, NOT_TREATED, OTHER_ERROR, SERVER_ERROR = 0, 10, 5, 99, 98
NOT_AUTHORIZED = 4
NO_HEARTBEAT_SERVICE, PING_TOO_OFTEN = 9, 101
INVALID_XML, WRONG_CONTENT, MANDATORY_MISSING, HEADER_MISSING = 2, 3, 7, 100

# Field limits of <alarmrequest> (characters).
LIMITS = {"reference": 50, "receiver": 20, "transmittercode": 15, "transmitterarea": 5,
          "eventcode": 25, "section": 5, "sectiontext": 40, "detector": 5, "detectortext": 40,
          "additionalinfo": 2000}

# Event codes: SOS Access carries whatever code the operator sets up an action for, and SIA
# codes are the usual choice, so each kind goes as the SIA code of its raised event (the DC-09
# table's), with <alarmtype> RE for its restore; <detectortext> names the Trygg alarm, which
# tells apart kinds sharing a code.
EVENT_CODES: dict[str, str] = {kind: row.sia_raised for kind, row in codes.CODES.items()}


class SosAccessError(ValueError):
    """A document that is not a well-formed, acceptable SOS Access v4 document."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status  # the status a receiver answers it with


# -- documents --------------------------------------------------------------------------------


def clean(text: str, limit: int, *, lines: bool = False) -> str:
    """Text an SOS Access field can carry: printable ISO-8859-1 (line breaks only where the
    field allows them), characters outside it replaced by '?', at most ``limit``."""
    out = []
    for ch in text:
        if ch in "\r\n" and lines:
            out.append("\n" if ch == "\n" else "")
        elif ch in "\r\n\t":
            out.append(" ")
        elif not ch.isprintable():
            continue
        else:
            try:
                ch.encode(ENCODING)
            except UnicodeEncodeError:
                ch = "?"
            out.append(ch)
    return "".join(out)[:limit].strip()


def document(root: str, fields: Mapping[str, str | None]) -> bytes:
    """``root`` with one child element per field (None fields left out), ISO-8859-1."""
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items()
                   if value is not None)
    return (XML_DECLARATION + f"<{root}>{body}</{root}>").encode(ENCODING, errors="replace")


@dataclass
class Document:
    root: str
    fields: dict[str, str]
    declared: bool  # had an XML declaration


class DocumentReader:
    """One document, fed in pieces as they arrive (no framing: the document ends when its root
    element closes). Strict and bounded: no DOCTYPE or entities, at most three levels
    (``position``/``pos``), at most ``max_bytes``. Raises SosAccessError with the status a
    receiver would answer."""

    def __init__(self, max_bytes: int = MAX_DOCUMENT) -> None:
        self.max_bytes = max_bytes
        self.received = 0
        self.done: Document | None = None
        self._declared = False
        self._root: str | None = None
        self._path: list[str] = []
        self._text: list[str] = []
        self._fields: dict[str, str] = {}
        p = expat.ParserCreate()
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.XmlDeclHandler = self._declaration
        p.StartDoctypeDeclHandler = self._forbidden
        p.EntityDeclHandler = self._forbidden
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        self._parser = p

    def _declaration(self, version: str, encoding: str | None, standalone: int) -> None:
        self._declared = True

    def _forbidden(self, *args: object) -> None:
        raise SosAccessError(INVALID_XML, "DOCTYPE and entity declarations are not allowed")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        if self.done is not None:
            raise SosAccessError(INVALID_XML, "more than one document")
        if self._root is None:
            self._root = name
        self._path.append(name)
        if len(self._path) > 3:
            raise SosAccessError(INVALID_XML, f"element <{name}> nested too deep")
        self._text = []

    def _chars(self, data: str) -> None:
        if len(self._path) >= 2:
            self._text.append(data)

    def _end(self, name: str) -> None:
        depth = len(self._path)
        self._path.pop()
        if depth == 1:
            assert self._root is not None
            self.done = Document(self._root, self._fields, self._declared)
        elif (depth == 2 and name != "position") or (depth == 3 and name == "pos"):
            key = "pos" if depth == 3 else name
            if key in self._fields:
                raise SosAccessError(WRONG_CONTENT, f"<{key}> given twice")
            self._fields[key] = "".join(self._text).strip()
        self._text = []

    def feed(self, data: bytes) -> Document | None:
        """The document once complete (then bytes after it are refused), else None."""
        self.received += len(data)
        if self.received > self.max_bytes:
            raise SosAccessError(1, f"more than {self.max_bytes} bytes")
        if self.done is not None:
            if data.strip():
                raise SosAccessError(INVALID_XML, "data after the document")
            return self.done
        try:
            self._parser.Parse(data, False)
        except expat.ExpatError as exc:
            raise SosAccessError(INVALID_XML, f"not well-formed XML: {exc}") from None
        return self.done

    def finish(self) -> Document:
        """The document at end of input (SosAccessError when it is incomplete)."""
        if self.done is None:
            with contextlib.suppress(expat.ExpatError):
                self._parser.Parse(b"", True)
        if self.done is None:
            raise SosAccessError(INVALID_XML, "incomplete document")
        return self.done


def parse(data: bytes) -> Document:
    """One whole document (SosAccessError if it is not exactly one)."""
    reader = DocumentReader()
    reader.feed(data)
    return reader.finish()


def reference_for(report: AlarmReport, number: int) -> str:
    """The report's reference: its message number and a digest of its identity, the same on
    every transmission and different for another hub or another outbox's number 1."""
    identity = f"{report.alarm_id}|{report.event}|{report.raised_at!r}".encode()
    return f"T{number}-{hashlib.sha256(identity).hexdigest()[:12]}"


def arrival_time(epoch: float) -> str:
    """The description's timestamp form ("2006-12-24 15:00:00.000", UTC)."""
    millis = int(epoch * 1000)
    return (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(millis // 1000))
            + f".{millis % 1000:03d}")


# -- receiver configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class SosAccessReceiver(ReceiverConfig):
    transmitter_code: str = ""  # supplied by the operator, 1-15 characters
    transmitter_type: str = ""  # supplied by the operator, 5 characters
    receiver_id: str = ""  # <receiver>: which monitoring centre, 1-20 characters
    authentication_file: str = ""  # the 15-character password, mode 0600
    transmitter_area: str | None = None  # 1-5 characters, optional
    heartbeat: str = "25h"
    tls: bool = False
    ca_file: str | None = None  # trust only this CA (PEM); default: the system's

    @property
    def heartbeat_s(self) -> float:
        return HEARTBEAT_LEVELS[self.heartbeat]


def _code_text(reader: TableReader, key: str, lo: int, hi: int) -> str:
    value = reader.text(key)
    if not lo <= len(value) <= hi:
        span = f"exactly {lo}" if lo == hi else f"{lo}-{hi}"
        raise reader.error(key, f"{value!r}: {span} characters (supplied by the alarm "
                           "operator)")
    return value


def parse_receiver(reader: TableReader, common: ReceiverConfig) -> SosAccessReceiver:
    code = _code_text(reader, "transmitter_code", 1, LIMITS["transmittercode"])
    kind = _code_text(reader, "transmitter_type", 5, 5)
    receiver_id = _code_text(reader, "receiver_id", 1, LIMITS["receiver"])
    area = reader.optional_text("transmitter_area", max_len=LIMITS["transmitterarea"])
    auth_file = reader.text("authentication_file")
    try:
        secret = read_secret(Path(auth_file))
    except OSError as exc:
        raise reader.error("authentication_file", f"{exc.strerror or exc}: write the "
                           "transmitter's password from the alarm operator there, alone on "
                           "one line, mode 0600") from None
    if len(secret) != AUTH_LENGTH or not secret.isprintable():
        raise reader.error("authentication_file", f"the password in {auth_file} is not "
                           f"{AUTH_LENGTH} printable characters")
    heartbeat = reader.choice("heartbeat", "25h", tuple(HEARTBEAT_LEVELS))
    tls = reader.get("tls", bool, False)
    ca_file = reader.optional_text("ca_file")
    if ca_file is not None and not Path(ca_file).is_file():
        raise reader.error("ca_file", f"{ca_file}: no such file (the CA certificate, PEM)")
    return SosAccessReceiver(
        name=common.name, host=common.host, port=common.port, protocol=common.protocol,
        transport=common.transport, transmitter_code=code, transmitter_type=kind,
        receiver_id=receiver_id, authentication_file=auth_file, transmitter_area=area,
        heartbeat=heartbeat, tls=tls, ca_file=ca_file)


def check(config: ArcConfig, index: int) -> tuple[str, str] | None:
    """The short heartbeat levels require a failover receiver (another [[arc.receivers]])."""
    rc = config.receivers[index]
    assert isinstance(rc, SosAccessReceiver)
    if rc.heartbeat in SHORT_LEVELS and len(config.receivers) < 2:
        return ("heartbeat", f"{rc.heartbeat!r} requires a failover receiver (SOS Access "
                "service levels 3 and 4): add a second [[arc.receivers]], or use 5h or 25h")
    return None


# -- the link ---------------------------------------------------------------------------------


@dataclass
class SosCounters:
    attempts: int = 0
    delivered: int = 0
    duplicates: int = 0
    bad_answers: int = 0
    discarded_bytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    # The receiver refused the password from the last rotation and took the previous one (it
    # did not commit the rotation), or refused both.
    auth_fallbacks: int = 0
    auth_fallbacks_refused: int = 0


# Answers that prove the receiver accepted the password (it treated the request); other
# statuses may come before any password check.
AUTH_ACCEPTED = (OK, DUPLICATE)


def judge_status(status: int, info: str) -> str:
    """The verdict on an <alarmresponse> (see the module docstring)."""
    if "NOT_AUTHORIZED" in info.upper():
        return FAILOVER
    if status in (OK, DUPLICATE):
        return DELIVERED
    return FAILOVER


class SosAccessLink(CentreLink):
    def __init__(self, config: ReceiverConfig, arc: ArcConfig, clock: Clock) -> None:
        if not isinstance(config, SosAccessReceiver):
            raise TypeError(f"SOS Access link for a {type(config).__name__}")
        super().__init__(config, arc, clock)
        self.receiver: SosAccessReceiver = config
        self.stats = SosCounters()
        self._lock = asyncio.Lock()
        self._heartbeat_factor = 1.0  # grows on PING_TO_OFTEN
        self._fallback_tried = False  # the previous password, once per rotation and run

    @property
    def supervision_interval(self) -> float:
        return self.receiver.heartbeat_s / HEARTBEATS_PER_LEVEL * self._heartbeat_factor

    @property
    def resend_limit(self) -> int:
        return 1

    def _authentication(self) -> str:
        return read_secret(Path(self.receiver.authentication_file))

    @property
    def _previous_path(self) -> Path:
        """The password before the last rotation, kept until the new one is accepted once."""
        path = Path(self.receiver.authentication_file)
        return path.with_name(path.name + ".previous")

    def _identity(self, reference: str, authentication: str | None = None
                  ) -> dict[str, str | None]:
        return {"authentication": authentication or self._authentication(),
                "reference": reference,
                "transmittercode": self.receiver.transmitter_code,
                "transmittertype": self.receiver.transmitter_type}

    def alarm_request(self, report: AlarmReport, number: int,
                      authentication: str | None = None) -> bytes:
        """The <alarmrequest> for ``report`` as message ``number`` (``authentication``: the
        password to send, the current one by default)."""
        kind = KINDS[report.kind]
        where = "the hub" if report.zone == 0 else (report.room or f"zone {report.zone:03d}")
        info = [f"Trygg {kind.title} ({report.kind}) "
                f"{'RESOLVED' if report.event == 'resolved' else report.event.upper()}",
                report.description,
                (kind.restore if report.event == "resolved"
                 else f"Urgency {kind.priority}: {kind.urgency}"),
                f"Raised {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(report.raised_at))}",
                f"Account {report.account}, zone {report.zone:03d} ({where})"]
        if report.device_id:
            info.append(f"Device {report.device_id}")
        fields: dict[str, str | None] = {
            "reference": reference_for(report, number),
            "authentication": authentication or self._authentication(),
            "receiver": self.receiver.receiver_id,
            "transmittertime": arrival_time(report.raised_at),
            "alarmtype": "RE" if report.event == "resolved" else "AL",
            "transmittertype": self.receiver.transmitter_type,
            "transmittercode": self.receiver.transmitter_code,
            "transmitterarea": self.receiver.transmitter_area,
            "eventcode": EVENT_CODES[report.kind],
            "section": f"{report.zone:03d}",
            "sectiontext": clean(where, LIMITS["sectiontext"]) or None,
            "detectortext": clean(kind.title, LIMITS["detectortext"]),
            "additionalinfo": clean("\n".join(info), LIMITS["additionalinfo"], lines=True),
        }
        return document("alarmrequest", fields)

    async def send(self, report: AlarmReport, number: int) -> Outcome:
        reference = reference_for(report, number)
        try:
            request = self.alarm_request(report, number)
        except OSError as exc:
            return Outcome(UNREACHABLE, f"authentication file: {exc}", f"reference {reference}")
        answer = await self._authenticated(
            request, lambda old: self.alarm_request(report, number, old), "alarmrequest",
            reference)
        if isinstance(answer, Outcome):
            return answer
        _doc, rtt, status, info = answer
        verdict = judge_status(status, info)
        wire = f"reference {reference}"
        if verdict == DELIVERED:
            self.stats.delivered += 1
            if status == DUPLICATE:
                self.stats.duplicates += 1
            return Outcome(DELIVERED, f"status {status} {info}", wire, rtt)
        if "NOT_AUTHORIZED" in info.upper():
            log.error("arc: %s answers NOT_AUTHORIZED: the transmitter's code, type or "
                      "password is wrong; ask the alarm operator (README: SOS Access)",
                      self.name)
        return Outcome(verdict, f"status {status} {info}", wire, rtt)

    async def link_test(self, number: int) -> Outcome:
        reference = f"P{number}"
        try:
            request = document("pingrequest", self._identity(reference))
        except OSError as exc:
            return Outcome(UNREACHABLE, f"authentication file: {exc}", f"reference {reference}")
        answer = await self._authenticated(
            request, lambda old: document("pingrequest", self._identity(reference, old)),
            "pingrequest", reference)
        if isinstance(answer, Outcome):
            return answer
        _doc, rtt, status, info = answer
        wire = f"reference {reference}"
        if "NOT_AUTHORIZED" in info.upper():
            # Alarms cannot pass this receiver: the link is down for the centre's purposes,
            # which raises the link notice over the other path.
            return Outcome(UNREACHABLE, f"heartbeat refused: status {status} {info}", wire)
        if status == PING_TOO_OFTEN:
            self._heartbeat_factor = min(2.0, self._heartbeat_factor * 1.5)
            log.warning("arc: %s says heartbeats come too often; now every %.0f s", self.name,
                        self.supervision_interval)
        elif status == NO_HEARTBEAT_SERVICE:
            log.warning("arc: %s has no heartbeat service for this transmitter (status 9): "
                        "check the agreed service level", self.name)
        verdict = DELIVERED if status == OK else HOLD_BACK
        return Outcome(verdict, f"status {status} {info}", wire, rtt)

    async def request_new_authentication(self) -> str:
        """Rotate the password (``requestnewauthentication``): the new one replaces the old in
        the authentication file, the old is kept beside it as ``<file>.previous`` until the
        receiver has accepted the new one once (each written to a temporary file, fsynced and
        renamed: a kill at any instant leaves each file whole, old or new). Should the
        receiver refuse the new one (it did not commit the rotation), the link falls back to
        the previous one (:meth:`_authenticated`). Refused while the last rotation is not
        confirmed. Returns the status text; never the password. Raises OSError,
        SosAccessError."""
        path, previous = Path(self.receiver.authentication_file), self._previous_path
        current = self._authentication()
        with contextlib.suppress(FileNotFoundError):
            if read_secret(previous) != current:
                raise SosAccessError(0, f"{self.name}: the receiver has not accepted the "
                                     f"password from the last rotation yet ({previous} is "
                                     "kept): send a test alarm (trygg hub test-alarm) or wait "
                                     "for the next heartbeat, then rotate again")
        # The current password is saved as the previous one before asking, so that once the
        # answer arrives, one rename puts the new one in place: the shortest window in which a
        # kill loses a new password the receiver has committed (the operator then issues one).
        write_secret(previous, current)
        reference = f"A{secrets.randbelow(10**9)}"
        request = document("requestnewauthentication", self._identity(reference, current))
        try:
            answer = await self._exchange(request, "requestnewauthentication", reference)
            if isinstance(answer, Outcome):
                raise SosAccessError(0, f"{self.name}: {answer.detail}")
            doc, _rtt = answer
            status, info = self._status(doc)
            if status != OK:
                raise SosAccessError(status, f"{self.name}: status {status} {info}")
            new = doc.fields.get("newauthentication") or doc.fields.get("authentication") or ""
            if len(new) != AUTH_LENGTH or not new.isprintable():
                raise SosAccessError(WRONG_CONTENT, f"{self.name}: the new password in the "
                                     f"answer is not {AUTH_LENGTH} printable characters")
        except BaseException:
            with contextlib.suppress(OSError):
                previous.unlink()  # nothing rotated: the current password stays the only one
            raise
        crash_point("sos.rotation_answered")
        write_secret(path, new)
        self._fallback_tried = False
        log.warning("arc: %s: password rotated (the previous one is kept in %s until the "
                    "receiver accepts the new one)", self.name, previous)
        return f"status {status} {info}"

    async def _authenticated(self, request: bytes, with_password: Callable[[str], bytes],
                             kind: str, reference: str
                             ) -> tuple[Document, float, int, str] | Outcome:
        """Exchange ``request`` (made with the current password). The first answer that
        accepts the current password confirms the last rotation (the previous password is
        deleted). If the receiver refuses the current password (NOT_AUTHORIZED) while the
        previous one is still kept, the request is made again, once, with the previous one
        (``with_password``): a receiver that takes it never committed the rotation, so the
        previous password becomes the current one again; logged, counted, never shown."""
        answer = await self._exchange(request, kind, reference)
        if isinstance(answer, Outcome):
            return answer
        doc, rtt = answer
        status, info = self._status(doc)
        previous = self._previous_path
        if status in AUTH_ACCEPTED and "NOT_AUTHORIZED" not in info.upper():
            if previous.exists():
                with contextlib.suppress(FileNotFoundError):
                    previous.unlink()
                log.info("arc: %s accepted the rotated password; the previous one is deleted",
                         self.name)
            return doc, rtt, status, info
        if "NOT_AUTHORIZED" not in info.upper() or self._fallback_tried:
            return doc, rtt, status, info
        try:
            old = read_secret(previous)
        except FileNotFoundError:
            return doc, rtt, status, info
        except OSError as exc:
            log.error("arc: %s refuses the current password, and the previous one cannot be "
                      "read (%s)", self.name, exc)
            return doc, rtt, status, info
        self._fallback_tried = True
        again = await self._exchange(with_password(old), kind, reference)
        if isinstance(again, Outcome):
            return again
        doc2, rtt2 = again
        status2, info2 = self._status(doc2)
        if status2 in AUTH_ACCEPTED and "NOT_AUTHORIZED" not in info2.upper():
            self.stats.auth_fallbacks += 1
            write_secret(Path(self.receiver.authentication_file), old)
            with contextlib.suppress(FileNotFoundError):
                previous.unlink()
            log.error("arc: %s refused the password from the last rotation and accepted the "
                      "previous one: the alarm centre did not commit the rotation. The hub uses "
                      "the previous password again; tell the alarm operator, then rotate again "
                      "(trygg arc rotate-authentication) once they confirm", self.name)
        else:
            self.stats.auth_fallbacks_refused += 1
            log.error("arc: %s refuses both the password from the last rotation and the "
                      "previous one (status %s %s): ask the alarm operator for a new password "
                      "for transmitter %s and put it in %s (README: SOS Access)", self.name,
                      status2, info2, self.receiver.transmitter_code,
                      self.receiver.authentication_file)
        return doc2, rtt + rtt2, status2, info2

    def _status(self, doc: Document) -> tuple[int, str]:
        text = doc.fields.get("status", "")
        info = clean(doc.fields.get("info", ""), 255)
        try:
            status = int(text)
        except ValueError:
            status = -1
        self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
        if status < 0:
            # An info text is still a judgement when the number is missing or garbled.
            for number, name in STATUS_INFO.items():
                if info.upper() == name:
                    status = number
        return status, info

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.receiver.tls:
            return None
        context = ssl.create_default_context(cafile=self.receiver.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def _exchange(self, request: bytes, kind: str, reference: str
                        ) -> tuple[Document, float] | Outcome:
        """One connection: send ``request``, read one answer document, close."""
        async with self._lock:
            self.stats.attempts += 1
            started = time.monotonic()
            wire = f"reference {reference}"
            outcome: Outcome | None = None
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(self.arc.connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        self.receiver.host, self.receiver.port, ssl=self._ssl())
                answer = DocumentReader()
                async with asyncio.timeout(max(0.01, started + self.arc.ack_timeout
                                               - time.monotonic())):
                    writer.write(request)
                    await writer.drain()
                    doc = None
                    while doc is None:
                        chunk = await reader.read(4096)
                        if not chunk:
                            doc = answer.finish()
                            break
                        doc = answer.feed(chunk)
                if doc.root != RESPONSES[kind]:
                    raise SosAccessError(INVALID_XML, f"<{doc.root[:40]}> where "
                                         f"<{RESPONSES[kind]}> belongs")
                echoed = doc.fields.get("reference")
                if echoed and echoed != reference:
                    raise SosAccessError(WRONG_CONTENT, f"answer for reference {echoed[:50]!r}")
                return doc, time.monotonic() - started
            except TimeoutError:
                outcome = Outcome(UNREACHABLE, f"no answer within {self.arc.ack_timeout:g} s",
                                  wire)
            except SosAccessError as exc:
                self.stats.bad_answers += 1
                outcome = Outcome(UNREACHABLE, f"unusable answer: {exc}", wire)
            except (OSError, EOFError, ssl.SSLError) as exc:
                outcome = Outcome(UNREACHABLE, f"{type(exc).__name__}: {exc}", wire)
            finally:
                if writer is not None:
                    writer.transport.abort()
            self.stats.failures[outcome.verdict] = self.stats.failures.get(outcome.verdict,
                                                                           0) + 1
            return outcome

    def counters(self) -> dict[str, object]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(self.stats).items()}


# -- the code table ---------------------------------------------------------------------------


def code_table_markdown() -> str:
    """The README's SOS Access table, generated."""
    lines = ["| Trygg alarm | eventcode | alarmtype (raised / resolved) | detectortext |",
             "| --- | --- | --- | --- |"]
    for name, kind in KINDS.items():
        lines.append(f"| {kind.title} (`{name}`) | {EVENT_CODES[name]} | "
                     f"{'AL / -' if kind.klass == 'test' else 'AL / RE'} | {kind.title} |")
    return "\n".join(lines) + "\n"


def new_password() -> str:
    """A 15-character password as the console issues them (letters and digits)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(AUTH_LENGTH))


PROTOCOL = CentreProtocol(
    name="sos-access",
    title="SOS Access v4",
    parse_receiver=parse_receiver,
    open_link=SosAccessLink,
    codes=EVENT_CODES,
    code_table_markdown=code_table_markdown,
    transports=("tcp",),
    check=check,
)
