"""SCAIP (SS 91100:2014, CLC/TS 50134-9) as a centre protocol: the hub is the "local unit and
controller", the centre answers behind a SIP registrar and proxy.

The messages are the sans-I/O codec in ``hub/arc/scaip.py``, SIP is PJSIP
(``hub/arc/scaip_sip.py``); this module ties them to the seam (``hub/arc/protocol.py``).

One attempt: the hub (registered with Digest, its SIP user the controller id ``cid``) sends the
report as an ``<mrq>`` in a SIP MESSAGE to the centre's user, and waits ``response_timeout``
for the centre's ``<mrs>`` with the same ``ref``: in the centre's own MESSAGE to our registered
contact, or in the body of the 2xx. A 2xx alone is only SIP delivery, not acceptance.

- snu 0: delivered.
- snu 4 (HOLD): the same request again every ``hold_interval`` s; after ``hold_max`` s of HOLD
  the path has failed finally: reset (RE, same ref) and the next receiver.
- snu 5 (not treated) and the error numbers: reset (RE) and the next receiver.
- snu 6 (busy): held back with backoff, the queue goes on.
- No ``<mrs>`` in time, a SIP error, not registered: unreachable.

The outbox's message number is the ``ref`` (its decimal digits, at most 16), so every
transmission of a report, on any receiver and after a crash, carries the same ref and the
centre can tell a retransmission from a new alarm. Test reports carry status code 0102 on the
first receiver and 0103 (redundant path) on the others. The link test is a heartbeat (mty PI);
a centre's ``hbi`` sets the heartbeat interval.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...config_reader import TableReader
from ...private_files import read_secret
from .. import scaip, scaip_sip
from ..protocol import (
    DELIVERED,
    FAILOVER,
    HOLD_BACK,
    RESEND,
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

log = logging.getLogger("trygg.arc.scaip")

_PHONE_RE = re.compile(r"\+[0-9]{6,15}")  # E.164
_SIP_USER_RE = re.compile(r"[A-Za-z0-9._\-]{1,64}")

# Defaults and why (README: SCAIP receivers).
DEFAULTS = {
    # The centre's <mrs> usually follows its 200 OK within a second; 10 s is the DC-09
    # ack_timeout's reasoning (a congested mobile uplink), and SIP's own retransmissions
    # (RFC 3261 §17.1.2) fit inside it.
    "response_timeout": 10.0,
    # SCAIP: on HOLD resend every 5-20 s, for at least 3 and at most 30 minutes. 10 s and the
    # full 30 minutes keep an alarm at a centre that asked us to wait. Tests use less.
    "hold_interval": 10.0,
    "hold_max": 1800.0,
    # Registration lifetime asked of the registrar; a refresh every few minutes also keeps a
    # NAT binding open so the centre's MESSAGE reaches us.
    "register_expires": 300,
    "register_retry": 10,
}


@dataclass(frozen=True)
class ScaipReceiver(ReceiverConfig):
    """host/port are the SIP registrar and proxy the centre sits behind."""

    cid: str = ""  # controller id: digits; also our SIP user name
    password: str = ""  # Digest password of cid at the registrar (read from password_file)
    centre: str = "alarm"  # the centre's SIP user at the registrar
    domain: str | None = None  # SIP domain (realm) when it is not the registrar's host
    local_host: str = "0.0.0.0"  # where our SIP transport listens for the centre's MESSAGE
    resident_phone: str | None = None  # E.164: the operator calls the resident there (crd)
    response_timeout: float = DEFAULTS["response_timeout"]
    hold_interval: float = DEFAULTS["hold_interval"]
    hold_max: float = DEFAULTS["hold_max"]
    heartbeat_interval: float | None = None  # seconds; default [arc].supervision_interval
    register_expires: int = int(DEFAULTS["register_expires"])
    register_retry: int = int(DEFAULTS["register_retry"])
    tls_ca_file: str | None = None

    def __repr__(self) -> str:  # never print the password
        return (f"ScaipReceiver(name={self.name!r}, {self.transport}://{self.host}:"
                f"{self.port}, cid={self.cid!r}, centre={self.centre!r})")


def _password(reader: TableReader) -> str:
    """The Digest password of cid: from ``password_file`` (mode 0600, the password alone on
    its line: the way a technician keeps it out of hub.toml, which other tools read and
    print) or, less safely, ``password`` in hub.toml itself. Exactly one of them."""
    if reader.has("password_file"):
        if reader.has("password"):
            raise reader.error("password", "given twice: also as password_file (keep only "
                               "password_file, the private one)")
        path = reader.text("password_file", max_len=4096)
        try:
            password = read_secret(Path(path))
        except OSError as exc:
            raise reader.error("password_file", f"{exc.strerror or exc}: write the Digest "
                               "password of cid at the registrar there, alone on one line, "
                               "mode 0600") from None
        if not password or len(password) > 128 or not password.isprintable():
            raise reader.error("password_file", f"the password in {path} is not 1-128 "
                               "printable characters")
        return password
    if not reader.has("password"):
        raise reader.error("password_file", "missing: the file (mode 0600) with the Digest "
                           "password of cid at the registrar (or password = \"...\")")
    password = reader.text("password", max_len=128)
    if not password:
        raise reader.error("password", "empty: the Digest password of cid at the registrar")
    return password


def parse_receiver(reader: TableReader, common: ReceiverConfig) -> ScaipReceiver:
    cid = reader.text("cid", max_len=20)
    if not cid.isascii() or not cid.isdigit():
        raise reader.error("cid", f"{cid!r} is not the controller id the centre gave this "
                           "home (1-20 digits)")
    password = _password(reader)
    centre = reader.text("centre", "alarm", max_len=64)
    if not _SIP_USER_RE.fullmatch(centre):
        raise reader.error("centre", f"{centre!r} is not a SIP user name (letters, digits, "
                           ". _ -)")
    phone = reader.optional_text("resident_phone", max_len=16)
    if phone is not None and not _PHONE_RE.fullmatch(phone):
        raise reader.error("resident_phone", f"{phone!r} is not an international number "
                           "(+ and 6-15 digits, e.g. +46701234567)")
    heartbeat = (reader.number("heartbeat_interval", 60.0, 1.0, 1440 * 60.0)
                 if reader.has("heartbeat_interval") else None)
    hold_interval = reader.number("hold_interval", DEFAULTS["hold_interval"], 0.01, 20.0)
    hold_max = reader.number("hold_max", DEFAULTS["hold_max"], 0.01, 1800.0)
    if hold_max < hold_interval:
        raise reader.error("hold_max", f"{hold_max} s is shorter than hold_interval "
                           f"({hold_interval} s)")
    return ScaipReceiver(
        name=common.name, host=common.host, port=common.port, protocol=common.protocol,
        transport=common.transport, cid=cid, password=password, centre=centre,
        domain=reader.optional_text("domain", max_len=253),
        local_host=reader.text("local_host", "0.0.0.0", max_len=64),
        resident_phone=phone,
        response_timeout=reader.number("response_timeout", DEFAULTS["response_timeout"],
                                       0.1, 120.0),
        hold_interval=hold_interval, hold_max=hold_max, heartbeat_interval=heartbeat,
        register_expires=reader.integer("register_expires", int(DEFAULTS["register_expires"]),
                                        10, 86400),
        register_retry=reader.integer("register_retry", int(DEFAULTS["register_retry"]),
                                      1, 3600),
        tls_ca_file=reader.optional_text("tls_ca_file", max_len=4096))


# Answers awaited by every SCAIP link of this process, by ref. Two receivers with the same cid
# and domain have the same address of record, and PJSIP hands a MESSAGE to the first account
# whose address matches, whichever registrar relayed it: so the link that receives an <mrs>
# is not always the one that waits for it. Refs are unique per hub (outbox numbers).
_WAITING: dict[str, list[tuple[str, asyncio.Future[scaip.Mrs]]]] = {}


def ref_for(number: int) -> str:
    """The SCAIP ref of outbox message ``number`` (1-16 digits)."""
    return str(number % 10**16)


class ScaipLink(CentreLink):
    def __init__(self, config: ReceiverConfig, arc: ArcConfig, clock: Clock) -> None:
        if not isinstance(config, ScaipReceiver):
            raise TypeError(f"SCAIP link for a {type(config).__name__}")
        super().__init__(config, arc, clock)
        self.receiver: ScaipReceiver = config
        self.redundant_path = config in arc.receivers[1:]
        domain = config.domain or config.host
        self.sip_config = scaip_sip.AccountConfig(
            user=config.cid, password=config.password, registrar_host=config.host,
            registrar_port=config.port, transport=config.transport,
            local_host=config.local_host, register_expires_s=config.register_expires,
            register_retry_s=config.register_retry, tls_ca_file=config.tls_ca_file,
            domain_name=domain)
        self.centre_uri = f"sip:{config.centre}@{domain}"
        self._account: scaip_sip.SipAccount | None = None
        self._opening = asyncio.Lock()
        self._refs: set[str] = set()  # refs this link waits for (in _WAITING)
        self._hold_since: dict[str, float] = {}
        # MESSAGE transactions still open at the SIP level, by body. PJSIP retransmits a
        # MESSAGE over UDP for 32 s (RFC 3261 §17.1.2, Timer F) after our own wait for the
        # <mrs> has ended, and a non-INVITE transaction cannot be cancelled: a new attempt of
        # the same request while one is open would put another copy on the wire each time
        # (a centre coming back after an outage got a dozen). It waits for the open one.
        self._sending: dict[str, asyncio.Future[scaip_sip.MessageStatus]] = {}
        self.hbi_minutes: int | None = None
        self._counters = {"requests": 0, "answers": 0, "holds": 0, "resets": 0,
                          "bad_answers": 0, "foreign_messages": 0, "unreachable": 0,
                          "sip_open": 0}

    # -- seam ---------------------------------------------------------------------

    @property
    def supervision_interval(self) -> float:
        if self.hbi_minutes:
            return float(self.hbi_minutes * 60)
        return self.receiver.heartbeat_interval or self.arc.supervision_interval

    @property
    def resend_limit(self) -> int:
        # HOLD is judged here (hold_max); the forwarder must not back off before that.
        return math.ceil(self.receiver.hold_max / self.receiver.hold_interval) + 2

    async def send(self, report: AlarmReport, number: int) -> Outcome:
        ref = ref_for(number)
        crd = (f"gsm:{self.receiver.resident_phone}",) if self.receiver.resident_phone else ()
        try:
            mrq = scaip.mrq_for_report(report, ref=ref, cid=self.receiver.cid, crd=crd,
                                       redundant_path=self.redundant_path)
        except (scaip.ScaipError, KeyError) as exc:  # a report this table cannot carry
            return Outcome(FAILOVER, f"cannot encode for SCAIP: {exc}", f"ref {ref}")
        return await self._attempt(mrq)

    async def link_test(self, number: int) -> Outcome:
        mrq = scaip.heartbeat_mrq(ref=ref_for(number), cid=self.receiver.cid)
        return await self._attempt(mrq)

    async def prepare(self) -> None:
        """Register now: the centre can reach us from the start, and the first alarm does
        not wait for a REGISTER and its Digest challenge."""
        await self._open()

    def counters(self) -> dict[str, object]:
        counts: dict[str, object] = dict(self._counters)
        if self._account is not None:
            counts.update({f"sip_{k}": v for k, v in self._account.counters.items()})
            state = self._account.registration
            counts["registration"] = f"{state.code} {state.reason}" if state else "none yet"
        return counts

    async def close(self) -> None:
        for sending in list(self._sending.values()):
            sending.cancel()
        self._sending.clear()
        account, self._account = self._account, None
        if account is not None:
            await account.close()
        for ref in self._refs:
            for _centre, future in _WAITING.get(ref, []):
                future.cancel()
        self._refs.clear()

    # -- one attempt --------------------------------------------------------------

    async def _attempt(self, mrq: scaip.Mrq) -> Outcome:
        wire = f"ref {mrq.ref}"
        started = time.monotonic()
        mrs, detail = await self._exchange(mrq, self.receiver.response_timeout)
        if mrs is None:
            self._counters["unreachable"] += 1
            await self._register_again()
            return Outcome(UNREACHABLE, detail, wire)
        rtt = time.monotonic() - started
        if mrs.hbi:
            self.hbi_minutes = mrs.hbi
        judgement = scaip.judge(mrs)
        if judgement.verdict == scaip.ACCEPTED:
            self._hold_since.pop(mrq.ref, None)
            return Outcome(DELIVERED, judgement.detail, wire, rtt)
        if judgement.verdict == scaip.HOLD:
            self._counters["holds"] += 1
            since = self._hold_since.setdefault(mrq.ref, self.clock())
            held = self.clock() - since
            if held < self.receiver.hold_max:
                return Outcome(RESEND, f"{judgement.detail} (held {held:.0f} s of at most "
                               f"{self.receiver.hold_max:.0f} s)", wire, rtt,
                               after=self.receiver.hold_interval)
            self._hold_since.pop(mrq.ref, None)
            await self._reset(mrq)
            return Outcome(FAILOVER, f"HOLD for {held:.0f} s: reset (RE), next path", wire,
                           rtt)
        if judgement.verdict == scaip.BUSY:
            return Outcome(HOLD_BACK, judgement.detail, wire, rtt)
        self._hold_since.pop(mrq.ref, None)
        if mrq.mty != scaip.MTY_PING:
            await self._reset(mrq)
        return Outcome(FAILOVER, f"{judgement.detail}; reset (RE) sent", wire, rtt)

    async def _register_again(self) -> None:
        """After an attempt without an answer over UDP, register again if PJSIP believes us
        registered: the registrar may have lost us (a crash that lost its table), and then
        the centre's <mrs> cannot reach us until our next refresh, minutes away. Over TCP and
        TLS the registration lives on a connection, whose loss PJSIP sees and answers with a
        new registration of its own (a second one then would race it onto a dead flow)."""
        account = self._account
        if (self.receiver.transport == "udp" and account is not None
                and account.registered.is_set()):
            await account.refresh_registration()

    async def _reset(self, mrq: scaip.Mrq) -> None:
        """Cancel ``mrq`` at this centre (mty RE, same ref) before the next path takes it;
        best effort: its answer changes nothing."""
        self._counters["resets"] += 1
        mrs, detail = await self._exchange(scaip.reset_mrq(mrq),
                                           min(self.receiver.response_timeout, 5.0))
        if mrs is None:
            log.warning("scaip: %s: reset of ref %s not answered: %s", self.name, mrq.ref,
                        detail)

    async def _exchange(self, mrq: scaip.Mrq,
                        limit: float) -> tuple[scaip.Mrs | None, str]:
        """Send ``mrq`` and wait up to ``limit`` s for the <mrs> of its ref. Returns
        (mrs, "") or (None, why not); never raises for what the network or centre does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        try:
            account = await self._open()
        except (scaip_sip.SipUnavailable, scaip_sip.SipError) as exc:
            return None, str(exc)
        if not await account.wait_registered(max(0.0, deadline - loop.time())):
            state = account.registration
            why = f"{state.code} {state.reason}" if state else "no answer yet"
            return None, (f"not registered at {self.receiver.host}:{self.receiver.port} as "
                          f"{self.receiver.cid} ({why})")
        future: asyncio.Future[scaip.Mrs] = loop.create_future()
        waiter = (self.receiver.centre, future)
        _WAITING.setdefault(mrq.ref, []).append(waiter)
        self._refs.add(mrq.ref)
        self._counters["requests"] += 1
        try:
            body = scaip.encode_mrq(mrq).decode()
            sending = self._sending.get(body)
            if sending is None or sending.done():
                sending = asyncio.ensure_future(account.send_message(
                    self.centre_uri, body, scaip.CONTENT_TYPE))
                self._sending[body] = sending
                sending.add_done_callback(functools.partial(self._sent, body))
            else:
                self._counters["sip_open"] += 1
            try:
                async with asyncio.timeout_at(deadline):
                    status = await asyncio.shield(sending)
            except TimeoutError:
                return None, f"no SIP answer to the MESSAGE within {limit:g} s"
            except scaip_sip.SipError as exc:
                return None, str(exc)
            if not status.delivered:
                return None, f"SIP {status.code} {status.reason}"
            if status.body.strip():
                self._answer(status.body, "the 2xx", mrq.ref)
            try:
                async with asyncio.timeout_at(deadline):
                    mrs = await future
            except TimeoutError:
                return None, (f"SIP {status.code} but no <mrs> within {limit:g} s "
                              "(SIP delivery is not acceptance)")
            return mrs, ""
        finally:
            waiters = _WAITING.get(mrq.ref, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                _WAITING.pop(mrq.ref, None)
                self._refs.discard(mrq.ref)

    def _sent(self, body: str, done: asyncio.Future[scaip_sip.MessageStatus]) -> None:
        if self._sending.get(body) is done:
            del self._sending[body]
        if not done.cancelled():
            done.exception()  # retrieved: an error is the waiting attempt's to report

    async def _open(self) -> scaip_sip.SipAccount:
        # One account per link, however many callers race here (prepare() and the first
        # attempt): a second one would register the same address of record, and PJSIP would
        # hand the centre's answers to whichever it found first, long after this link closed.
        async with self._opening:
            if self._account is None:
                account = scaip_sip.SipAccount(self.sip_config, on_message=self._message)
                await account.open()
                self._account = account
            return self._account

    def _message(self, message: scaip_sip.IncomingMessage) -> None:
        self._answer(message.body, f"a MESSAGE from {message.from_uri[:80]}", None,
                     scaip_sip.uri_user(message.from_uri))

    def _answer(self, body: str, where: str, expected_ref: str | None,
                sender: str | None = None) -> None:
        """Hand an <mrs> to whatever waits for its ref; ``sender`` (the SIP user of a
        MESSAGE) must be the centre the waiter sent to. A 2xx body has no sender to check:
        it answers our own transaction."""
        try:
            mrs = scaip.parse_mrs(body)
        except scaip.ScaipError as exc:
            self._counters["bad_answers"] += 1
            log.warning("scaip: %s: bad <mrs> in %s: %s", self.name, where, exc)
            return
        if expected_ref is not None and mrs.ref != expected_ref:
            self._counters["bad_answers"] += 1
            log.warning("scaip: %s: <mrs> in %s names ref %s, sent %s: ignored", self.name,
                        where, mrs.ref, expected_ref)
            return
        waiters = [future for centre, future in _WAITING.get(mrs.ref, [])
                   if sender is None or centre == sender]
        if not waiters:
            # A late answer (after our timeout), one for a ref we never sent, or one from a
            # SIP user that is not the centre we asked.
            self._counters["foreign_messages"] += 1
            log.warning("scaip: %s: <mrs> for ref %s in %s, which nothing waits for: ignored",
                        self.name, mrs.ref, where)
            return
        self._counters["answers"] += 1
        for future in waiters:
            if not future.done():
                future.set_result(mrs)


def _code_summary(kind: str) -> str:
    row = scaip.SCAIP_CODES[kind]
    stc = "0102/0103" if kind == "test" else f"{row.stc:04d}" if row.stc is not None else "-"
    return f"dty {row.dty:04d}, stc {stc}"


PROTOCOL = CentreProtocol(
    name="scaip",
    title="SCAIP (SS 91100) over SIP",
    parse_receiver=parse_receiver,
    open_link=ScaipLink,
    codes={kind: _code_summary(kind) for kind in scaip.SCAIP_CODES},
    code_table_markdown=scaip.code_table_markdown,
    transports=("udp", "tcp", "tls"),
)
