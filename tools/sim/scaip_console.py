"""SCAIP alarm-centre console: registers at a SIP registrar as the centre, answers each unit's
``<mrq>`` with an ``<mrs>`` in a MESSAGE of its own, and prints each event as an operator reads
it (``trygg arc listen --protocol scaip``).

Technicians use it to prove a home's SCAIP path through the real SIP server; the tests use it
as the centre. It answers as told: OK (snu 0), HOLD (4, for a number of times per ref, then
OK), not treated (5), busy (6), an error number, or not at all; ``--answer`` sets the
start and a line on standard input (``ok``, ``hold 3``, ``busy``, ``not-treated``, ``error 99``,
``silent``) changes it while it runs. Hostile input is printed as a rejected message, counted,
and never ends the console.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trygg.hub.arc import scaip, scaip_sip
from trygg.hub.rules.alarm_kinds import KINDS

ANSWERS = ("ok", "hold", "not-treated", "busy", "error", "silent")
# Status codes that end an event: restoral, cancel, IP link re-established.
_RESOLVED_STC = (scaip.STC_RESTORAL, scaip.STC_CANCEL, 112)
_ANSWER_SNU = {"ok": scaip.SNU_OK, "hold": scaip.SNU_HOLD,
               "not-treated": scaip.SNU_NOT_TREATED, "busy": scaip.SNU_BUSY}


@dataclass
class AnswerPolicy:
    """What the console answers. ``hold`` answers HOLD ``hold_times`` times for a ref and then
    OK (0: HOLD for ever). ``delay``: seconds before each answer leaves (a slow centre)."""

    mode: str = "ok"
    hold_times: int = 0
    error_snu: int = 99
    hbi: int | None = None  # heartbeat interval to ask for, minutes
    delay: float = 0.0
    _holds: dict[str, int] = field(default_factory=dict)

    def snu_for(self, mrq: scaip.Mrq) -> int | None:
        if self.mode == "silent":
            return None
        if self.mode == "error":
            return self.error_snu
        if self.mode == "hold":
            held = self._holds.get(mrq.ref, 0)
            if self.hold_times and held >= self.hold_times:
                return scaip.SNU_OK
            self._holds[mrq.ref] = held + 1
            return scaip.SNU_HOLD
        return _ANSWER_SNU[self.mode]

    @classmethod
    def parse(cls, text: str, hbi: int | None = None) -> AnswerPolicy:
        """"ok", "hold", "hold 3", "busy", "not-treated", "error 99", "silent"; ValueError
        naming what is allowed."""
        words = text.strip().lower().replace(":", " ").split()
        if not words or words[0] not in ANSWERS:
            raise ValueError(f"answer {text.strip()!r}: one of ok, hold [N], not-treated, "
                             "busy, error [SNU], silent")
        policy = cls(mode=words[0], hbi=hbi)
        if len(words) > 2 or (len(words) == 2 and words[0] not in ("hold", "error")):
            raise ValueError(f"answer {text.strip()!r}: only hold and error take a number")
        if len(words) == 2:
            if not words[1].isdigit() or int(words[1]) > 9999:
                raise ValueError(f"answer {text.strip()!r}: {words[1]!r} is not 0..9999")
            if words[0] == "hold":
                policy.hold_times = int(words[1])
            else:
                policy.error_snu = int(words[1])
        return policy


@dataclass(frozen=True)
class ScaipEvent:
    """One MESSAGE the console received, and what it answered."""

    received_at: float
    from_uri: str
    mrq: scaip.Mrq | None
    error: str | None  # why the message was rejected
    snu: int | None  # what the console answered (None: nothing)

    @property
    def is_heartbeat(self) -> bool:
        return self.mrq is not None and self.mrq.mty == scaip.MTY_PING

    @property
    def kind(self) -> str | None:
        """The Trygg kind: from the status text when it names one, else from the codes."""
        mrq = self.mrq
        if mrq is None:
            return None
        if mrq.stt and ":" in mrq.stt:
            named = mrq.stt.split(":", 1)[0].strip()
            if named in KINDS:
                return named
        if mrq.stt and mrq.stt.strip() in KINDS:
            return mrq.stt.strip()
        if mrq.stc in (scaip.STC_TEST_PRIMARY, scaip.STC_TEST_REDUNDANT):
            return "test"
        for row in scaip.SCAIP_CODES.values():
            if row.dty == mrq.dty and row.stc == mrq.stc:
                return row.kind
        return None

    @property
    def event(self) -> str | None:
        """raised, resolved or test for an event (mty ME or IN); None for anything else."""
        mrq = self.mrq
        if mrq is None or mrq.mty not in (scaip.MTY_EVENT, scaip.MTY_INFO):
            return None
        if mrq.stc in (scaip.STC_TEST_PRIMARY, scaip.STC_TEST_REDUNDANT):
            return "test"
        return "resolved" if mrq.stc in _RESOLVED_STC else "raised"

    def operator_line(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.received_at))
        answered = "no answer" if self.snu is None else f"answered snu {self.snu}"
        mrq = self.mrq
        if mrq is None:
            return " | ".join([when, f"from {self.from_uri[:60]}",
                               f"REJECTED: {self.error}", answered])
        parts = [when, f"cid {mrq.cid}"]
        wire = f"ref {mrq.ref}, mty {mrq.mty}, {answered}"
        if mrq.mty == scaip.MTY_PING:
            return " | ".join([*parts, "heartbeat (PI): the unit is reachable", wire])
        where = "hub" if mrq.lco == 0 else f"location {mrq.lco:03d}" if mrq.lco is not None \
            else "location ?"
        if mrq.lte:
            where += f", {mrq.lte}"
        parts.append(where)
        kind = KINDS.get(self.kind or "")
        if mrq.mty == scaip.MTY_RESET:
            parts.append("RESET (RE): the unit cancels this event here and sends it elsewhere")
        elif kind is not None:
            resolved = self.event == "resolved"
            test = kind.name == "test"
            parts.append(kind.title + ("" if test else " RESOLVED" if resolved else " ALARM"))
            parts.append(kind.restore if resolved else f"urgency {kind.priority} "
                         f"{kind.urgency}")
            if not resolved:
                parts.append(kind.meaning)
        else:
            parts.append(f"UNKNOWN EVENT (dty {mrq.dty:04d}, stc "
                         f"{'-' if mrq.stc is None else f'{mrq.stc:04d}'}): look it up in "
                         "the receiver's code list")
        if mrq.stt:
            parts.append(f'"{mrq.stt}"')
        voice = ", ".join(mrq.crd) if mrq.crd else "no voice channel given"
        parts.append(f"call: {voice}")
        parts.append(f"SCAIP {scaip.describe_code(scaip.DEVICE_TYPES, mrq.dty)} / "
                     f"{scaip.describe_code(scaip.STATUS_CODES, mrq.stc)}, {wire}")
        return " | ".join(parts)


class ScaipConsole:
    """The centre: SIP user ``user`` at the registrar ``host:port`` over ``transport``.

    Every MESSAGE received is appended to ``events`` (and passed to ``on_event``) after the
    answer is decided; the answer itself is sent as a MESSAGE to the unit's address of record.
    ``start()``/``stop()`` may be repeated.
    """

    def __init__(self, host: str, port: int, *, user: str = "alarm", password: str,
                 transport: str = "udp", local_host: str = "127.0.0.1",
                 policy: AnswerPolicy | None = None,
                 on_event: Callable[[ScaipEvent], None] | None = None,
                 register_retry: int = 2) -> None:
        self.policy = policy or AnswerPolicy()
        self.on_event = on_event
        self.events: list[ScaipEvent] = []
        self.counters = {"received": 0, "rejected": 0, "answered": 0, "answer_failures": 0}
        self.config = scaip_sip.AccountConfig(
            user=user, password=password, registrar_host=host, registrar_port=port,
            transport=transport, local_host=local_host, register_retry_s=register_retry,
            register_expires_s=60)
        self._account: scaip_sip.SipAccount | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> ScaipConsole:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, register_within: float = 10.0) -> None:
        """Register at the registrar; RuntimeError naming the registrar's answer when it does
        not take us within ``register_within`` s."""
        if self._account is not None:
            return
        account = scaip_sip.SipAccount(self.config, on_message=self._message)
        await account.open()
        self._account = account
        if not await account.wait_registered(register_within):
            state = account.registration
            await self.stop()
            why = f"{state.code} {state.reason}" if state else "no answer"
            raise RuntimeError(f"SCAIP console: not registered at {self.config.registrar_uri} "
                               f"as {self.config.user} ({why})")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        account, self._account = self._account, None
        if account is not None:
            await account.close()

    async def local_address(self) -> tuple[str, int]:
        """(host, port) of the console's own SIP transport."""
        if self._account is None:
            raise RuntimeError("SCAIP console is not started")
        return await self._account.local_address()

    def _message(self, message: scaip_sip.IncomingMessage) -> None:
        self.counters["received"] += 1
        mrq: scaip.Mrq | None = None
        error: str | None = None
        if message.content_type.split(";")[0].strip().lower() != scaip.CONTENT_TYPE:
            error = f"content type {message.content_type[:60]!r}, not {scaip.CONTENT_TYPE}"
        else:
            try:
                mrq = scaip.parse_mrq(message.body)
            except scaip.ScaipError as exc:
                error = str(exc)
        snu = None
        if mrq is not None:
            sender = scaip_sip.uri_user(message.from_uri)
            if sender != mrq.cid:
                # SCAIP receivers reject a request whose From user is not its cid.
                error = f"From user {sender!r} is not the cid {mrq.cid!r}"
                snu = 2
            else:
                snu = self.policy.snu_for(mrq)
        if error is not None:
            self.counters["rejected"] += 1
        event = ScaipEvent(time.time(), message.from_uri, mrq if error is None else None,
                           error, snu)
        if mrq is not None and snu is not None:
            answer = scaip.Mrs(ref=mrq.ref, snu=snu, hbi=self.policy.hbi)
            self._spawn(self._answer(mrq.cid, answer))
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        self._spawn(self._notify())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def _answer(self, cid: str, mrs: scaip.Mrs) -> None:
        if self.policy.delay > 0:
            await asyncio.sleep(self.policy.delay)
        account = self._account
        if account is None:
            return
        try:
            status = await account.send_message(account.config.uri_for(cid),
                                                scaip.encode_mrs(mrs).decode(),
                                                scaip.CONTENT_TYPE)
        except scaip_sip.SipError:
            status = None
        if status is not None and status.delivered:
            self.counters["answered"] += 1
        else:
            self.counters["answer_failures"] += 1

    def alarms(self) -> list[ScaipEvent]:
        """Events other than heartbeats, resets and rejected messages, in arrival order."""
        return [e for e in self.events
                if e.mrq is not None and e.mrq.mty in (scaip.MTY_EVENT, scaip.MTY_INFO)]

    async def wait_until(self, predicate: Callable[[list[ScaipEvent]], bool],
                         within: float) -> bool:
        """Wait until ``predicate(events)`` holds; False after ``within`` seconds."""
        async def check() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: predicate(self.events))
        try:
            async with asyncio.timeout(within):
                await check()
        except TimeoutError:
            return False
        return True


# -- trygg arc listen --protocol scaip ------------------------------------------------

def add_listen_arguments(parser: Any) -> None:
    parser.add_argument("--user", default="alarm",
                        help="SCAIP: the centre's SIP user at the registrar (default alarm)")
    parser.add_argument("--password-env", default="TRYGG_SCAIP_PASSWORD", metavar="VAR",
                        help="SCAIP: environment variable holding the centre's Digest password "
                        "(default TRYGG_SCAIP_PASSWORD; a password is never a command-line "
                        "argument, where ps would show it)")
    parser.add_argument("--sip-transport", choices=scaip_sip.TRANSPORTS, default="udp",
                        help="SCAIP: SIP transport to the registrar (default udp)")
    parser.add_argument("--local-host", default="127.0.0.1",
                        help="SCAIP: address the console's SIP transport listens on")
    parser.add_argument("--hbi", type=int, help="SCAIP: heartbeat interval (minutes) to ask "
                        "units for in each answer")


async def listen(args: argparse.Namespace) -> int:
    """Run the console until Ctrl-C or ``--count`` events; ValueError for a bad option."""
    password = os.environ.get(args.password_env, "")
    if not password:
        raise ValueError(f"--password-env: set {args.password_env} to the centre's Digest "
                         "password at the registrar")
    if args.hbi is not None and not 1 <= args.hbi <= 1440:
        raise ValueError(f"--hbi: {args.hbi} (1..1440 minutes)")
    answer = args.answer or "ok"
    try:
        policy = AnswerPolicy.parse(answer, args.hbi)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None
    done = asyncio.Event()
    seen = 0

    def show(event: ScaipEvent) -> None:
        nonlocal seen
        if event.is_heartbeat and args.hide_link_tests:
            return
        print(event.operator_line(), flush=True)
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    try:
        console = ScaipConsole(args.host, args.port, user=args.user, password=password,
                               transport=args.sip_transport, local_host=args.local_host,
                               policy=policy, on_event=show)
        await console.start()
    except (scaip_sip.SipUnavailable, scaip_sip.SipError, RuntimeError) as exc:
        raise ValueError(str(exc)) from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    commands = _read_commands(console, done)
    print(f"SCAIP centre {args.user} registered at {args.sip_transport}://{args.host}:"
          f"{args.port}; answering {answer!r} (type ok, hold N, busy, not-treated, "
          "error N or silent to change); Ctrl-C to stop", flush=True)
    try:
        await done.wait()
    finally:
        if commands is not None:
            commands.cancel()
        await console.stop()
    return 0


def _read_commands(console: ScaipConsole, done: asyncio.Event) -> asyncio.Task[None] | None:
    """Read answer changes from stdin (a terminal or a pipe) while the console runs."""
    if sys.stdin is None or sys.stdin.closed:
        return None
    loop = asyncio.get_running_loop()

    async def run() -> None:
        reader = asyncio.StreamReader(limit=1024)
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                         sys.stdin)
        except (OSError, ValueError):
            return
        while not done.is_set():
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                print("answer: line too long (ignored)", flush=True)
                continue
            if not line:
                return
            text = line.decode(errors="replace").strip()
            if not text:
                continue
            try:
                console.policy = AnswerPolicy.parse(text, console.policy.hbi)
            except ValueError as exc:
                print(f"{exc}", flush=True)
                continue
            print(f"now answering {text!r}", flush=True)

    return asyncio.ensure_future(run())
