"""Receiving-centre console: an SIA DC-09 receiver on pysiaalarm that puts events into words.

pysiaalarm is an independent DC-09 implementation, so what this console accepts is what a
centre's receiver accepts, not what our own encoder believes. Technicians use it to verify a
link (``trygg arc listen``, the DC-09 console named by ``protocols/dc09.py``); the tests and
the benchmark use it as the real peer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pysiaalarm.account import SIAAccount
from pysiaalarm.aio.client import SIAClient, SIAClientTCP, SIAClientUDP
from pysiaalarm.utils.enums import CommunicationsProtocol

from trygg.hub.arc import codes, dc09


@dataclass(frozen=True)
class ReceivedEvent:
    """One message the console acknowledged, in the terms an operator uses."""

    received_at: float
    token: str  # SIA-DCS | ADM-CID | NULL
    encrypted: bool
    account: str
    sequence: int
    code: str | None  # SIA code (for ADM-CID: pysiaalarm's translation)
    cid_event: int | None
    cid_qualifier: int | None
    partition: int | None
    zone: int | None
    room: str | None
    text: str | None
    raised_at: float | None  # DC-09 [H] extended data: when the alarm was raised
    timestamp: float | None  # the message timestamp (transmission time)
    kind: str | None  # the Trygg kind, when the table knows the code
    event: str | None  # raised | resolved | test

    @property
    def is_link_test(self) -> bool:
        return self.token == "NULL"

    def operator_line(self) -> str:
        """One line for the console: time, account, zone/room, what happened, urgency."""
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.received_at))
        parts = [when, f"account {self.account}"]
        wire = f"{self.token}{' AES' if self.encrypted else ''} seq {self.sequence:04d}"
        if self.is_link_test:
            return " | ".join([*parts, "link test (NULL): the hub is reachable", wire])
        where = "hub" if self.zone == 0 else f"zone {self.zone:03d}" if self.zone is not None \
            else "zone ?"
        if self.room:
            where += f", {self.room}"
        parts.append(where)
        row = codes.CODES.get(self.kind or "")
        if row is not None:
            label = {"raised": " ALARM", "resolved": " RESOLVED", "test": ""}[
                self.event or "raised"]
            parts.append(f"{row.title}{label}")
            parts.append(f"urgency {row.priority} {row.urgency}" if self.event != "resolved"
                         else "no action unless the care plan says so")
            parts.append(row.meaning)
        else:
            parts.append(f"UNKNOWN EVENT (SIA {self.code}, Contact ID {self.cid_event}): "
                         "look it up in the receiver's code list")
        if self.text:
            parts.append(f'"{self.text}"')
        if self.raised_at is not None:
            parts.append("raised " + time.strftime("%H:%M:%SZ", time.gmtime(self.raised_at)))
        code = (f"CID {self.cid_qualifier}{self.cid_event:03d}" if self.cid_event is not None
                else f"SIA {self.code}")
        parts.append(f"{code}, {wire}")
        return " | ".join(parts)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def describe(event: Any, received_at: float | None = None) -> ReceivedEvent:
    """A pysiaalarm SIAEvent -> ReceivedEvent (never raises for odd field values)."""
    token = getattr(event.message_type, "value", str(event.message_type))
    extended = {x.identifier: x.value for x in (event.extended_data or [])}
    raised_at: float | None = None
    if extended.get("H"):
        with contextlib.suppress(dc09.Dc09Error):
            raised_at = dc09.parse_timestamp(str(extended["H"]))
    stamp = event.timestamp.timestamp() if hasattr(event.timestamp, "timestamp") else None
    cid_event = _int_or_none(event.event_type) if token == "ADM-CID" else None
    qualifier = _int_or_none(event.event_qualifier) if token == "ADM-CID" else None
    if token == "ADM-CID":
        zone = _int_or_none(event.ri)
        partition = _int_or_none(event.partition)
        found = codes.from_cid(cid_event, qualifier or 1) if cid_event is not None else None
    else:
        digits = "".join(ch for ch in (event.message or "")[:3] if ch.isdigit())
        zone = _int_or_none(digits) if token != "NULL" else None
        partition = _int_or_none(event.ri)
        found = codes.from_sia(event.code) if event.code and token != "NULL" else None
    text = extended.get("I")
    kind = found[0].kind if found else None
    if found and text and ":" in text:
        # The [I] text starts with the Trygg kind: it tells apart kinds sharing a code.
        named = text.split(":", 1)[0].strip()
        if named in codes.CODES:
            kind = named
    return ReceivedEvent(
        received_at=time.time() if received_at is None else received_at,
        token=token, encrypted=bool(event.encrypted), account=str(event.account or ""),
        sequence=_int_or_none(event.sequence) or 0, code=event.code, cid_event=cid_event,
        cid_qualifier=qualifier, partition=partition, zone=zone, room=extended.get("R"),
        text=text, raised_at=raised_at, timestamp=stamp, kind=kind,
        event=found[1] if found else None)


class ArcConsole:
    """A DC-09 receiver on ``host:port`` for ``accounts`` [(account, AES key or None)].

    ``start()``/``stop()`` may be repeated on the same port; ``stop()`` also drops the
    connections in progress, as a receiver that goes down would. Every acknowledged event is
    appended to ``events`` and passed to ``on_event``.
    """

    def __init__(self, port: int, accounts: Sequence[tuple[str, bytes | None]], *,
                 host: str = "127.0.0.1", protocol: str = "tcp",
                 on_event: Callable[[ReceivedEvent], None] | None = None,
                 timestamp_window: tuple[int, int] | None = (40, 20)) -> None:
        self.port = port
        self.host = host
        self.protocol = protocol
        self.on_event = on_event
        self.events: list[ReceivedEvent] = []
        self._accounts = []
        for account, key in accounts:
            acc = SIAAccount(account.upper(), key="0" * len(key) if key else None,
                             allowed_timeband=timestamp_window)
            # pysiaalarm takes the key's characters as the key bytes; DC-09 keys are binary
            # (§5.4.5.3 discourages ASCII keys), so the raw key replaces them.
            acc.key_b = key
            self._accounts.append(acc)
        self._client: SIAClientTCP | SIAClientUDP | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> ArcConsole:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._client is not None:
            return
        # SIAClient.__new__ picks the TCP or UDP subclass (they cannot be built directly).
        make_client: Any = SIAClient
        client: SIAClientTCP | SIAClientUDP
        if self.protocol == "udp":
            client = make_client(self.host, self.port, self._accounts, self._received,
                                 protocol=CommunicationsProtocol.UDP)
            server: Any = client.sia_server

            def connection_made(transport: Any) -> None:
                # pysiaalarm 3.2.2 asserts the transport is an asyncio.DatagramTransport,
                # which the selector loop's datagram transport is not on CPython 3.11.
                server.transport = transport

            server.connection_made = connection_made
        else:
            client = make_client(self.host, self.port, self._accounts, self._received,
                                 protocol=CommunicationsProtocol.TCP)
            assert isinstance(client, SIAClientTCP)
            handle = client.sia_server.handle_line

            async def tracked(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
                self._writers.add(writer)
                task = asyncio.current_task()
                if task is not None:
                    self._handlers.add(task)
                try:
                    await handle(reader, writer)
                except ConnectionError:
                    pass
                finally:
                    self._writers.discard(writer)
                    if task is not None:
                        self._handlers.discard(task)

            client.sia_server.handle_line = tracked  # type: ignore[method-assign]
        await client.async_start()
        self._client = client

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        # Stop accepting first, then drop the live connections: on CPython 3.11.7+ the
        # server's wait_closed() (inside async_stop) waits for every connection to end.
        server = getattr(client, "server", None)
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        # Let the connection handlers see their connection end, rather than leaving them to
        # be cancelled mid-read when the event loop closes.
        handlers, self._handlers = self._handlers, set()
        if handlers:
            await asyncio.wait(handlers, timeout=2.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await client.async_stop()

    async def _received(self, event: Any) -> None:
        received = describe(event)
        self.events.append(received)
        if self.on_event is not None:
            self.on_event(received)
        async with self._arrived:
            self._arrived.notify_all()

    def alarms(self) -> list[ReceivedEvent]:
        """Events other than link tests, in arrival order."""
        return [e for e in self.events if not e.is_link_test]

    async def wait_until(self, predicate: Callable[[list[ReceivedEvent]], bool],
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


# -- `trygg arc listen --protocol dc09` -------------------------------------------------------


def add_listen_arguments(parser: Any) -> None:
    parser.add_argument("--account", action="append", default=[],
                        help="DC-09 account to accept (3-16 hex digits); repeat for more")
    parser.add_argument("--key", help="DC-09 AES key as 32, 48 or 64 hex digits (encrypted "
                        "link)")
    parser.add_argument("--udp", action="store_true", help="DC-09 over UDP instead of TCP")


def _key(text: str | None) -> bytes | None:
    if text is None:
        return None
    cleaned = text.replace(" ", "").replace(":", "")
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"--key: {text!r} is not hex") from None
    if len(key) not in dc09.AES_KEY_SIZES:
        raise ValueError(f"--key: {len(key)} bytes; an AES key is 16, 24 or 32 bytes "
                         "(32, 48 or 64 hex digits)")
    return key


async def listen(args: argparse.Namespace) -> int:
    """Run the console until Ctrl-C or ``--count`` events; ValueError for a bad option."""
    if getattr(args, "answer", None) is not None:
        raise ValueError("--answer: the DC-09 console (pysiaalarm) acknowledges every message "
                         "it can read; use --protocol scaip or sos-access to answer otherwise")
    key = _key(args.key)
    if not args.account:
        raise ValueError("--account: give the DC-09 account(s) to accept")
    accounts: list[tuple[str, bytes | None]] = []
    for account in args.account:
        if not 3 <= len(account) <= 16 or any(c not in string.hexdigits for c in account):
            raise ValueError(f"--account: {account!r} is not 3-16 hex digits")
        accounts.append((account.upper(), key))
    done = asyncio.Event()
    seen = 0

    def show(event: ReceivedEvent) -> None:
        nonlocal seen
        if event.is_link_test and args.hide_link_tests:
            return
        print(event.operator_line(), flush=True)
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    transport = "udp" if args.udp else "tcp"
    console = ArcConsole(args.port, accounts, host=args.host, protocol=transport, on_event=show)
    try:
        await console.start()
    except OSError as exc:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    print(f"listening on {transport}://{args.host}:{args.port} (SIA DC-09) for "
          f"account(s) {', '.join(a for a, _ in accounts)}{' (AES)' if key else ''}; "
          "Ctrl-C to stop", flush=True)
    try:
        await done.wait()
    finally:
        await console.stop()
    return 0
