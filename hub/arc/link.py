"""DC-09's link to one receiver: send a DC-09 frame, wait for the answer that belongs to it.

One message is outstanding per link at a time (DC-09 §5.5.3: the receiver answers each
message); a lock serialises the delivery loop and link supervision. Whatever the receiver sends
back is untrusted: answers with another sequence number, frames that fail the CRC, garbage and
endless streams are counted and skipped until the answer arrives or the ACK timeout ends the
attempt. After a failed attempt the TCP connection is closed, so a late answer can never be
taken for the next message's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..rejection_log import RejectionLog
from . import dc09

if TYPE_CHECKING:
    from .protocols.dc09 import Dc09Receiver

log = logging.getLogger("trygg.hub.arc.link")

# Bytes read from the receiver per attempt at most: an endless stream costs bounded work.
MAX_READ_PER_ATTEMPT = 64 * 1024
# Answers the link skips (bad frames, other sequence numbers, bytes between frames) are logged
# at most once per receiver and kind in this many seconds, then as one line with the exact
# count: whatever is on the other end decides how many it sends. The counters stay exact.
REJECTION_LOG_INTERVAL_S = 300.0


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended. ``kind``: ack, nak, duh, timeout, refused, unresolved, closed."""

    kind: str
    detail: str
    answer: dc09.Frame | None = None
    rtt: float = 0.0


@dataclass
class LinkCounters:
    attempts: int = 0
    acks: int = 0
    bad_frames: int = 0
    wrong_sequence: int = 0
    discarded_bytes: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class _UdpAnswers(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(data)


class ReceiverLink:
    def __init__(self, config: Dc09Receiver, *, ack_timeout: float,
                 connect_timeout: float) -> None:
        self.config = config
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self.counters = LinkCounters()
        self.rejection_log = RejectionLog(log, REJECTION_LOG_INTERVAL_S)
        self.lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_answers: _UdpAnswers | None = None

    @property
    def name(self) -> str:
        return self.config.name

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.transport.abort()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            self._udp_answers = None

    async def exchange(self, message: bytes, seq: int) -> Outcome:
        """Send ``message`` (sequence number ``seq``) and wait for its answer."""
        async with self.lock:
            self.rejection_log.flush()  # summaries of skipped answers whose interval ended
            self.counters.attempts += 1
            started = time.monotonic()
            try:
                if self.config.transport == "udp":
                    outcome = await self._exchange_udp(message, seq, started)
                else:
                    outcome = await self._exchange_tcp(message, seq, started)
            except TimeoutError:
                outcome = Outcome("timeout", "receiver did not take the message in time")
            except socket.gaierror as exc:  # before OSError, of which it is one: no "refused"
                outcome = Outcome("unresolved", f"the receiver's name {self.config.host!r} "
                                  f"does not resolve ({exc.strerror}): check [arc] host and "
                                  "the hub's DNS")
            except (OSError, EOFError) as exc:
                outcome = Outcome("refused", f"{type(exc).__name__}: {exc}")
            if outcome.kind == "ack":
                self.counters.acks += 1
            else:
                self.counters.failures[outcome.kind] = self.counters.failures.get(
                    outcome.kind, 0) + 1
                if outcome.kind in ("timeout", "refused", "closed", "unresolved"):
                    await self.close()
            return outcome

    def _judge(self, raw: bytes, seq: int, started: float) -> Outcome | None:
        """The outcome ``raw`` settles, or None when it is not the answer to ``seq``."""
        try:
            answer = dc09.parse_frame(raw, self.config.key)
        except dc09.Dc09Error as exc:
            self._bad_frame(f"not a DC-09 frame: {exc}")
            return None
        rtt = time.monotonic() - started
        if answer.token == "NAK":
            # A NAK carries sequence number 0000 (§5.5.3.2); some receivers echo ours.
            if answer.seq not in (0, seq):
                self._wrong_sequence(answer.seq, seq)
                return None
            return Outcome("nak", "receiver sent NAK", answer, rtt)
        if answer.seq != seq:
            self._wrong_sequence(answer.seq, seq)
            return None
        if answer.token in ("ACK", "RSP"):
            if self.config.key is not None and not answer.encrypted:
                # §5.5.3.1: an encrypted message is acknowledged with "*ACK". A plain ACK
                # could come from anyone on the path: not proof of delivery.
                self._bad_frame("a plain ACK to an encrypted message (DC-09 needs *ACK)")
                return None
            return Outcome("ack", "acknowledged", answer, rtt)
        if answer.token == "DUH":
            return Outcome("duh", "receiver cannot process this message (DUH)", answer, rtt)
        self._bad_frame(f"{answer.token!r} where an answer belongs")
        return None

    def _bad_frame(self, why: str) -> None:
        self.counters.bad_frames += 1
        self.rejection_log.note(self.name, "bad_frame", "arc: receiver %s: answer skipped: %s",
                                self.name, why)

    def _wrong_sequence(self, got: int, want: int) -> None:
        self.counters.wrong_sequence += 1
        self.rejection_log.note(self.name, "wrong_sequence", "arc: receiver %s: answer to "
                                "sequence %04d skipped while waiting for %04d", self.name, got,
                                want)

    def _discarded(self, n: int) -> None:
        if n:
            self.counters.discarded_bytes += n
            self.rejection_log.note(self.name, "discarded_bytes", "arc: receiver %s: %d bytes "
                                    "outside DC-09 frames skipped", self.name, n)

    async def _connect(self, deadline: float) -> None:
        if self._writer is not None and not self._writer.transport.is_closing():
            return
        await self.close()
        budget = min(self.connect_timeout, max(0.0, deadline - time.monotonic()))
        async with asyncio.timeout(budget):
            self._reader, self._writer = await asyncio.open_connection(self.config.host,
                                                                       self.config.port)

    async def _exchange_tcp(self, message: bytes, seq: int, started: float) -> Outcome:
        deadline = started + self.ack_timeout
        try:
            await self._connect(deadline)
        except TimeoutError:
            return Outcome("timeout", f"no connection within {self.connect_timeout:g} s")
        assert self._reader is not None
        assert self._writer is not None
        reader, writer = self._reader, self._writer
        writer.write(message)
        async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
            await writer.drain()
        frames = dc09.FrameReader()
        received = 0
        try:
            while received < MAX_READ_PER_ATTEMPT:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                async with asyncio.timeout(remaining):
                    chunk = await reader.read(4096)
                if not chunk:
                    return Outcome("closed", "receiver closed the connection without an answer")
                received += len(chunk)
                for raw in frames.feed(chunk):
                    outcome = self._judge(raw, seq, started)
                    if outcome is not None:
                        return outcome
        except TimeoutError:
            pass
        finally:
            self._discarded(frames.discarded)
        if received >= MAX_READ_PER_ATTEMPT:
            return Outcome("timeout", f"{received} bytes from the receiver and no answer to "
                           f"sequence {seq:04d}")
        return Outcome("timeout", f"no answer to sequence {seq:04d} within "
                       f"{self.ack_timeout:g} s")

    async def _exchange_udp(self, message: bytes, seq: int, started: float) -> Outcome:
        deadline = started + self.ack_timeout
        if self._udp is None:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_datagram_endpoint(
                _UdpAnswers, remote_addr=(self.config.host, self.config.port))
            self._udp, self._udp_answers = transport, protocol
        assert self._udp is not None
        assert self._udp_answers is not None
        answers = self._udp_answers
        while not answers.queue.empty():  # late answers to earlier attempts
            answers.queue.get_nowait()
        self._udp.sendto(message)
        received = 0
        while received < MAX_READ_PER_ATTEMPT:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    datagram = await answers.queue.get()
            except TimeoutError:
                break
            received += len(datagram)
            frames = dc09.FrameReader()
            for raw in frames.feed(datagram):
                outcome = self._judge(raw, seq, started)
                if outcome is not None:
                    return outcome
            self._discarded(frames.discarded)
        return Outcome("timeout", f"no answer to sequence {seq:04d} within "
                       f"{self.ack_timeout:g} s (udp)")
