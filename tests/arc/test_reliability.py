"""Nothing raised is lost or sent as two different alarms, for every centre protocol, across
what a centre and the path to it do in the field: a receiver down for an hour, a SCAIP centre
holding an alarm for 30 minutes, a SIP server that crashes and forgets every registration, a
centre that never answers or answers byte by byte, and hostile input at every listener.

Hours are compressed, not waited: the intervals and backoffs that space the attempts are
configuration (``[arc]`` retry_backoff_*, SCAIP hold_interval and hold_max), so a test sets
them hundreds of times shorter and counts the attempts an hour (or 30 minutes) at the
defaults would make. What other tests prove is not repeated here: busy (SCAIP, DC-09 DUH),
kamailio stopped and started, garbage answers, silence of DC-09 and SCAIP centres (test_scaip_*,
test_hostile_receivers.py, test_sos_access.py), and kill -9 of the hub at every step of
delivery in every protocol (test_delivery_crash.py, test_scaip_delivery_crash.py).

Every loop is bounded in count and every wait in time (``WAIT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from support.arc import HUB, RESIDENT, RawReceiver, answer, config, receiver, report
from support.scaip import (
    CENTRE,
    CENTRE_PASSWORD,
    CID,
    USERS,
    needs_sip,
    scaip_receiver,
)
from trygg.hub.arc import ArcForwarder, dc09, scaip
from trygg.hub.arc.config import DEFAULTS
from trygg.hub.arc.protocols import sos_access as sos
from trygg.hub.arc.protocols.scaip import DEFAULTS as SCAIP_DEFAULTS
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.centre import Arrival, Centre
from trygg.tools.sim.kamailio import Kamailio
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.scaip_console import AnswerPolicy, ScaipConsole

WAIT = 30.0

# Compressed time: every interval 500 times shorter than its default.
COMPRESSION = 500.0


def _attempts_in(seconds: float, initial: float, cap: float) -> int:
    """Attempts a report gets in ``seconds`` of outage with a backoff from ``initial``
    doubling to ``cap`` (the forwarder's schedule)."""
    attempts, elapsed, wait = 0, 0.0, initial
    while elapsed <= seconds:
        attempts += 1
        elapsed += wait
        wait = min(cap, wait * 2)
    return attempts


# An hour of outage at the default backoff (1 s doubling to 60 s): 65 attempts.
HOUR_OF_ATTEMPTS = _attempts_in(3600.0, DEFAULTS["retry_backoff_initial"],
                                DEFAULTS["retry_backoff_max"])
# (The first backoff stays at the least the configuration takes, 0.01 s.)
COMPRESSED_ARC = {"retry_backoff_initial": max(0.01, DEFAULTS["retry_backoff_initial"]
                                               / COMPRESSION),
                  "retry_backoff_max": DEFAULTS["retry_backoff_max"] / COMPRESSION,
                  "ack_timeout": 0.5, "connect_timeout": 0.5, "failover_after": 2,
                  "supervision_interval": 3600.0}


def _resident(arrivals: list[Arrival]) -> list[Arrival]:
    return [a for a in arrivals if not a.is_notice]


class Outcomes:
    """The forwarder's on_delivery for one alarm: its failed and successful attempts, and a
    wait for them."""

    def __init__(self, alarm_id: str) -> None:
        self.alarm_id = alarm_id
        self.failed: list[str] = []
        self.delivered: list[str] = []
        self._changed = asyncio.Event()

    def __call__(self, alarm_id: str, event: str, name: str, ok: bool, detail: str) -> None:
        if alarm_id == self.alarm_id:
            (self.delivered if ok else self.failed).append(detail)
            self._changed.set()

    async def until(self, check: Callable[[Outcomes], bool], within: float, what: str) -> None:
        try:
            async with asyncio.timeout(within):
                while not check(self):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"not within {within} s: {what} ({len(self.failed)} failed, "
                                 f"{len(self.delivered)} delivered)") from None


# -- a receiver down for an hour ------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["dc09", "sos-access",
                                      pytest.param("scaip", marks=needs_sip)])
async def test_receiver_down_for_an_hour_keeps_the_alarm_through_a_restart_and_delivers_it_once(
        tmp_path: Path, protocol: str) -> None:
    assert HOUR_OF_ATTEMPTS == 65
    fire = Outcomes("fire-1")
    timings = {"response_timeout": 0.2, "register_retry": 1} if protocol == "scaip" else {}
    async with Centre(protocol, tmp_path / "centre", accounts=(RESIDENT, HUB)) as centre:
        cfg = config(centre.receiver("arc", **timings), **COMPRESSED_ARC)
        async with ArcForwarder(cfg, tmp_path / "arc.sqlite", on_delivery=fire) as fwd:
            await fwd.submit(report("assistance", alarm_id="before", zone=2))
            assert await fwd.wait_drained(WAIT), "the link works before the outage"
            await centre.stop()
            await fwd.submit(report("fire", alarm_id="fire-1", zone=1))
            await fire.until(lambda o: len(o.failed) >= HOUR_OF_ATTEMPTS // 2, WAIT,
                             "half an hour of attempts")
        # The hub restarts in the middle of the outage: the alarm is in the outbox.
        async with ArcForwarder(cfg, tmp_path / "arc.sqlite", on_delivery=fire) as fwd:
            assert fwd.pending() >= 1
            await fire.until(lambda o: len(o.failed) >= HOUR_OF_ATTEMPTS, WAIT,
                             "an hour of attempts")
            assert not fire.delivered
            await centre.start()
            assert await fwd.wait_drained(WAIT), "delivered once the receiver is back"
    fires = [a for a in _resident(centre.arrivals) if a.kind == "fire"]
    assert [(a.event, a.zone) for a in fires] == [("raised", 1)], fires  # once, not twice
    assert len(fire.delivered) == 1
    # The centre was told the link was lost, and that it is back.
    notices = [a.event for a in centre.arrivals if a.is_notice]
    assert notices == ["raised", "resolved"], centre.arrivals


# -- SCAIP: HOLD for 30 minutes --------------------------------------------------------------


@needs_sip
async def test_hold_for_30_minutes_resets_and_the_dc09_second_path_gets_the_alarm_once(
        tmp_path: Path) -> None:
    hold_interval = SCAIP_DEFAULTS["hold_interval"] / COMPRESSION
    hold_max = SCAIP_DEFAULTS["hold_max"] / COMPRESSION
    dc09_port = free_port()
    with Kamailio(USERS) as server:
        cfg = config(scaip_receiver("scaip", server.port, hold_interval=hold_interval,
                                    hold_max=hold_max),
                     receiver("dc09", dc09_port))
        async with ScaipConsole(server.host, server.port, user=CENTRE,
                                password=CENTRE_PASSWORD,
                                policy=AnswerPolicy.parse("hold")) as holding, \
                ArcConsole(dc09_port, [(RESIDENT, None), (HUB, None)]) as second, \
                ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
            await fwd.submit(report("fire", zone=3))
            assert await fwd.wait_drained(WAIT)
            assert await holding.wait_until(
                lambda events: any(e.mrq and e.mrq.mty == scaip.MTY_RESET for e in events),
                WAIT), "no reset (RE) after the HOLD"
    requests = [e for e in holding.events if e.mrq and e.mrq.mty == scaip.MTY_EVENT]
    held = [e for e in requests if e.snu == scaip.SNU_HOLD]
    assert held == requests  # every request was held, none accepted
    # Kept up for the whole 30 (compressed) minutes, one resend per interval and no faster.
    span = held[-1].received_at - held[0].received_at
    assert hold_max * 0.9 <= span <= hold_max * 3, span
    assert math.floor(span / hold_interval) + 1 >= len(held) >= 20
    assert len({scaip.encode_mrq(e.mrq) for e in held if e.mrq}) == 1  # one request, resent
    (reset,) = [e for e in holding.events if e.mrq and e.mrq.mty == scaip.MTY_RESET]
    assert reset.mrq is not None
    assert held[0].mrq is not None
    assert reset.mrq.ref == held[0].mrq.ref
    fires = [e for e in second.alarms() if e.account == RESIDENT]
    assert [(e.kind, e.event, e.zone) for e in fires] == [("fire", "raised", 3)]


# -- SCAIP: the SIP server crashes and forgets every registration ----------------------------


@needs_sip
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sip_server_crash_losing_registrations_costs_one_attempt_not_the_alarm(
        tmp_path: Path, transport: str) -> None:
    with Kamailio(USERS) as server:
        # Over UDP nothing tells the hub: its registration would last its full 300 s at the
        # registrar that lost it. Over TCP the connection's end tells PJSIP.
        cfg = config(scaip_receiver("arc", server.port, response_timeout=1.0,
                                    transport=transport), **COMPRESSED_ARC)
        async with ScaipConsole(server.host, server.port, user=CENTRE,
                                password=CENTRE_PASSWORD) as console, \
                ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
            await fwd.submit(report("assistance", zone=1))
            assert await fwd.wait_drained(WAIT)
            server.kill()  # SIGKILL: the location table dies with it
            server.start()
            # The centre registers again when its own registration fails (here at once).
            await console.stop()
            await console.start()
            await fwd.submit(report("fire", zone=2))
            assert await fwd.wait_drained(WAIT / 2), \
                "the hub did not register again after its registrar lost it"
    fires = [e for e in console.alarms() if e.kind == "fire"]
    assert len({e.mrq.ref for e in fires if e.mrq}) == 1  # resent as itself
    assert fires[-1].snu == 0


# -- centres that never answer, or answer byte by byte ---------------------------------------


class RawSosCentre:
    """An SOS Access centre written here: reads one request, then ``behaviour(request bytes,
    writer)`` answers (or not). Its own so that it can misbehave."""

    def __init__(self, port: int,
                 behaviour: Callable[[sos.Document, asyncio.StreamWriter], Awaitable[None]]
                 ) -> None:
        self.port = port
        self.behaviour = behaviour
        self.requests: list[sos.Document] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> RawSosCentre:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        document = sos.DocumentReader()
        try:
            async with asyncio.timeout(WAIT):
                request = None
                while request is None and (chunk := await reader.read(4096)):
                    request = document.feed(chunk)
            if request is not None:
                self.requests.append(request)
                await self.behaviour(request, writer)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()


def _sos_ok(request: sos.Document) -> bytes:
    return sos.document("alarmresponse", {"reference": request.fields.get("reference"),
                                          "status": "0", "info": "OK"})


async def _dribble(data: bytes, writer: asyncio.StreamWriter, delay: float) -> None:
    """``data`` one byte at a time (bounded by its length)."""
    for byte in data:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(delay)


def _sos_table(tmp_path: Path, port: int) -> dict[str, Any]:
    auth = tmp_path / "sos-auth"
    if not auth.exists():
        auth.write_text("p" * sos.AUTH_LENGTH)
        auth.chmod(0o600)
    return {"name": "sos", "host": "127.0.0.1", "port": port, "protocol": "sos-access",
            "transmitter_code": "7001234", "transmitter_type": "TRYGG", "receiver_id": "1",
            "authentication_file": str(auth)}


@contextlib.asynccontextmanager
async def _switching_centre(protocol: str, port: int, state: dict[str, float]
                            ) -> AsyncIterator[Callable[[], list[str]]]:
    """A DC-09 or SOS Access centre that answers correctly, one byte every
    ``state["delay"]`` s, or never when the delay is infinite. Yields: the wire identities
    of the resident's messages it received (not the hub's link tests and notices)."""
    async def pace(data: bytes, writer: asyncio.StreamWriter) -> None:
        if math.isinf(state["delay"]):
            await asyncio.sleep(WAIT)  # holds the connection, says nothing
        else:
            await _dribble(data, writer, state["delay"])

    if protocol == "dc09":
        async def dc09_answer(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
            await pace(answer("ACK", message.seq, message.account or RESIDENT), writer)

        async with RawReceiver(port, dc09_answer) as raw:
            yield lambda: [f"{m.account} {m.seq}" for m in raw.received
                           if m.token != "NULL" and m.account == RESIDENT]
    else:
        async def sos_answer(request: sos.Document, writer: asyncio.StreamWriter) -> None:
            await pace(_sos_ok(request), writer)

        async with RawSosCentre(port, sos_answer) as raw_sos:
            yield lambda: [str(r.fields.get("reference")) for r in raw_sos.requests
                           if r.root == "alarmrequest" and r.fields.get("section") != "000"]


@pytest.mark.parametrize("protocol", ["dc09", "sos-access"])
@pytest.mark.parametrize("misbehaviour", ["never answers", "answers byte by byte, too slowly"])
async def test_a_centre_that_never_answers_or_dribbles_gets_the_same_message_until_it_answers(
        tmp_path: Path, protocol: str, misbehaviour: str) -> None:
    port = free_port()
    table = receiver("arc", port) if protocol == "dc09" else _sos_table(tmp_path, port)
    cfg = config(table, **{**COMPRESSED_ARC, "ack_timeout": 1.0})
    # Too slow: the answer would take seconds, the link waits ack_timeout. Then byte by byte
    # still, but fast enough to finish in time.
    state = {"delay": math.inf if misbehaviour == "never answers" else 0.1}
    fire = Outcomes("fire-1")
    async with _switching_centre(protocol, port, state) as received, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite", on_delivery=fire) as fwd:
        await fwd.submit(report("fire", alarm_id="fire-1"))
        await fire.until(lambda o: len(o.failed) >= 3, WAIT, "three unanswered attempts")
        assert not fire.delivered
        state["delay"] = 0.001
        assert await fwd.wait_drained(WAIT)
        assert all(not task.done() for task in fwd._tasks), "the forwarder's tasks run on"
    resident = received()
    assert len(resident) >= 4
    assert len(set(resident)) == 1, resident  # one message, retransmitted: never a second
    assert len(fire.delivered) == 1


@needs_sip
async def test_a_scaip_centre_answering_after_the_timeout_is_heard_under_the_same_ref(
        tmp_path: Path) -> None:
    with Kamailio(USERS) as server:
        cfg = config(scaip_receiver("arc", server.port, response_timeout=0.5),
                     **COMPRESSED_ARC)
        policy = AnswerPolicy.parse("ok")
        policy.delay = 0.8  # every <mrs> comes after the hub has given up waiting for it
        async with ScaipConsole(server.host, server.port, user=CENTRE,
                                password=CENTRE_PASSWORD, policy=policy) as console, \
                ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
            await fwd.submit(report("fire"))
            assert await fwd.wait_drained(WAIT)
    requests = [e for e in console.alarms() if e.kind == "fire"]
    assert len(requests) >= 2  # the first attempt timed out ...
    assert len({e.mrq.ref for e in requests if e.mrq}) == 1  # ... and was resent as itself


# -- hostile input at every listener ---------------------------------------------------------

DC09_HOSTILE = [
    b"\x00\xff\xfe garbage \r\n" * 20,
    dc09.frame(b'"SIA-DCS"0001R1L0#5678[#5678|Nri1/FA001]')[:-3] + b"XX\r",  # torn
    b"\n0000" + b"9" * 990 + b"\r",  # a length field that lies
    dc09.frame(b'"SIA-DCS"0002R1L0#FFFF[#FFFF|Nri1/FA001]'),  # an account it does not know
    dc09.frame(b'"NOPE"0003R1L0#5678[]'),  # an unknown token
    b"x" * 70_000,  # more than one read
]


async def test_the_dc09_console_answers_hostile_input_and_still_takes_the_next_alarm(
        tmp_path: Path) -> None:
    port = free_port()
    cfg = config(receiver("arc", port))
    async with ArcConsole(port, [(RESIDENT, None), (HUB, None)]) as console:
        answers: list[bytes] = []
        for data in DC09_HOSTILE:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    answers.append(await reader.read(4096))
            writer.transport.abort()
        # One byte per packet: each is a bad frame on its own, none ends the console.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for byte in dc09.frame(b'"SIA-DCS"0004R1L0#5678[#5678|Nri1/FA001]')[:40]:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.transport.abort()
        async with ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
            await fwd.submit(report("fire", zone=9))
            assert await fwd.wait_drained(WAIT)
    # Each hostile message the console could frame got a DC-09 refusal (NAK, DUH), none an ACK.
    refused = b"".join(answers)
    assert b'"NAK"' in refused or b'"DUH"' in refused, answers
    assert b'"ACK"' not in refused
    assert [(e.kind, e.zone) for e in console.alarms()] == [("fire", 9)]


@needs_sip
async def test_hostile_input_at_the_hubs_own_sip_port_is_dropped_and_a_forged_answer_is_not_taken(
        tmp_path: Path) -> None:
    """The hub listens too: for the centre's <mrs>, on its SIP transport. Garbage there is
    PJSIP's to refuse; a MESSAGE that did not come through the registrar (a forged "snu 0"
    sent straight to the hub's port) must not count as the centre's answer."""
    with Kamailio(USERS) as server:
        cfg = config(scaip_receiver("arc", server.port, response_timeout=1.0),
                     **COMPRESSED_ARC)
        console = ScaipConsole(server.host, server.port, user=CENTRE, password=CENTRE_PASSWORD,
                               policy=AnswerPolicy.parse("silent"))
        fire = Outcomes("fire-5")
        async with console, ArcForwarder(cfg, tmp_path / "arc.sqlite", on_delivery=fire) as fwd:
            await fwd.submit(report("fire", zone=5, alarm_id="fire-5"))
            assert await console.wait_until(lambda events: len(events) >= 1, WAIT)
            link = fwd._receivers[0].link
            account = link._account  # type: ignore[attr-defined]
            assert account is not None
            host, port = await account.local_address()
            (request,) = console.events
            assert request.mrq is not None
            forged = _forged_message(server, host, port, request.mrq.ref)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                for data in (b"\x00\xff garbage\r\n\r\n" * 40,
                             b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n<mrs>",
                             forged.replace(b"{port}", str(s.getsockname()[1]).encode())):
                    s.sendto(data, (host, port))
            await fire.until(lambda o: bool(o.failed or o.delivered), WAIT,
                             "the attempt's end")
            assert not fire.delivered, "a forged answer was taken for the centre's"
            assert fwd.pending() == 1
            console.policy = AnswerPolicy.parse("ok")
            assert await fwd.wait_drained(WAIT)
            counters = fwd.counters()["arc"]
    assert counters["sip_refused"] >= 1  # the forged MESSAGE, counted
    accepted = [e for e in console.alarms() if e.snu == 0]
    assert len(accepted) == 1
    assert len({e.mrq.ref for e in console.alarms() if e.mrq}) == 1


def _forged_message(server: Kamailio, host: str, port: int, ref: str) -> bytes:
    """A SIP MESSAGE as the centre's would look, From the centre's user, sent by someone
    else straight to the hub (``{port}``: the forger's own port, for Via)."""
    body = scaip.encode_mrs(scaip.Mrs(ref=ref, snu=scaip.SNU_OK))
    return (f"MESSAGE sip:{CID}@{host}:{port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKforged1\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{CENTRE}@{server.host}:{server.port}>;tag=forged\r\n"
            f"To: <sip:{CID}@{server.host}:{server.port}>\r\n"
            "Call-ID: forged-1\r\nCSeq: 1 MESSAGE\r\n"
            f"Content-Type: {scaip.CONTENT_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
