"""The seam between the forwarder and a centre protocol.

The forwarder (``forwarder.py``) owns everything that is the same for every alarm receiving
centre: the durable outbox and its message numbers, delivery order, failover between receivers,
link supervision, the link-outage notices, the delivery callbacks. A *protocol* owns what is its
own: the receiver keys it needs in ``[[arc.receivers]]``, how a neutral :class:`AlarmReport`
looks on its wire, how it talks to a receiver, and what the receiver's answer means. It hands
that judgement back as an :class:`Outcome` with one of five verdicts, which is all the
forwarder acts on.

A protocol is a :class:`CentreProtocol` value named ``PROTOCOL`` in one module under
``hub/arc/protocols/``, registered by one line in ``hub/arc/protocols/__init__.py``. Adding a
protocol is that module, its tests and its README section; nothing else changes.

Message numbers: the outbox gives every report one number, stored with it, when it is first
queued (``number``, 1, 2, 3 ... never reused). Every transmission of that report, on any
receiver, before or after a crash, passes the same number, and a protocol derives its wire
identity from it alone (DC-09: sequence ``(number - 1) % 9999 + 1``; SOS Access: the
reference; SCAIP: ``ref``), so a receiver can recognise a retransmission.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config_reader import TableReader
from .report import AlarmReport

if TYPE_CHECKING:
    from .config import ArcConfig

Clock = Callable[[], float]

# The five verdicts a protocol gives on one attempt.
DELIVERED = "delivered"  # the centre has the report (ACK; a "duplicate" answer is this too)
RESEND = "resend"  # the centre answered: send the same message again after ``after`` seconds
HOLD_BACK = "hold_back"  # the centre answered but cannot take this message now: back off it
FAILOVER = "failover"  # the centre answered "use another path": next receiver, this report
UNREACHABLE = "unreachable"  # no usable answer: timeout, refused, closed, only garbage
VERDICTS = (DELIVERED, RESEND, HOLD_BACK, FAILOVER, UNREACHABLE)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended, judged by the protocol.

    ``detail`` is for a person (log, ``alarm_deliveries``); ``wire_id`` names the message as
    the receiver knows it ("sequence 0031"); ``after`` is the wait before a RESEND;
    ``rtt`` the round trip in seconds when there was an answer.
    """

    verdict: str
    detail: str
    wire_id: str = ""
    rtt: float = 0.0
    after: float = 0.0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"Outcome.verdict: {self.verdict!r} (one of {', '.join(VERDICTS)})")

    @property
    def answered(self) -> bool:
        """The receiver is there (whatever it said)."""
        return self.verdict != UNREACHABLE


@dataclass(frozen=True)
class ReceiverConfig:
    """One ``[[arc.receivers]]`` entry: the keys every protocol has. Each protocol subclasses
    it with its own keys (all with defaults), and its link gets that subclass."""

    name: str
    host: str
    port: int
    protocol: str = "dc09"
    transport: str = "tcp"

    @property
    def address_label(self) -> str:
        return f"{self.name} ({self.protocol} {self.transport}://{self.host}:{self.port})"


class CentreLink(ABC):
    """A protocol's link to one receiver. One attempt at a time (the forwarder serialises
    delivery and supervision through ``lock``); never raises for anything the receiver does:
    every misbehaviour is an Outcome."""

    def __init__(self, config: ReceiverConfig, arc: ArcConfig, clock: Clock) -> None:
        self.config = config
        self.arc = arc
        self.clock = clock

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def supervision_interval(self) -> float:
        """Seconds without traffic before a link test; a protocol may learn another interval
        from its receiver (SCAIP ``hbi``) or have a service level (SOS Access)."""
        return self.arc.supervision_interval

    @property
    def resend_limit(self) -> int:
        """RESEND verdicts in a row for one report before it is held back with backoff."""
        return self.arc.nak_resend_limit

    @abstractmethod
    async def send(self, report: AlarmReport, number: int) -> Outcome:
        """Transmit ``report`` as message ``number`` and judge the answer."""

    @abstractmethod
    async def link_test(self, number: int) -> Outcome:
        """The protocol's link test or heartbeat, as message ``number`` (from the hub's own
        account); the forwarder only asks whether it was answered."""

    @abstractmethod
    def counters(self) -> dict[str, object]:
        """Counts for a person or a test: attempts, bad answers, discarded bytes."""

    async def prepare(self) -> None:  # noqa: B027 (a link with nothing to prepare need not)
        """Get ready before the first report, so that it does not wait (SCAIP registers
        here). Called once when the forwarder starts; best effort: a failure here is the
        first attempt's to report."""

    async def close(self) -> None:  # noqa: B027 (a link with nothing to close need not say so)
        """Drop any connection; the next attempt opens a new one."""


@dataclass(frozen=True)
class CentreProtocol:
    """What one protocol module offers the seam (``PROTOCOL`` in the module)."""

    name: str  # as written in [[arc.receivers]] protocol = "..."
    title: str  # for people: "SIA DC-09"
    # Read the protocol's own keys of one receiver (name, host, port, protocol, transport are
    # read already); raise through ``reader.error`` naming the key.
    parse_receiver: Callable[[TableReader, ReceiverConfig], ReceiverConfig]
    open_link: Callable[[ReceiverConfig, ArcConfig, Clock], CentreLink]
    # kind -> the code an operator sees on the wire, for every kind of trygg.hub.rules.alarm_kinds
    # (tests/arc/test_alarm_kinds.py holds every protocol to that).
    codes: Mapping[str, str]
    code_table_markdown: Callable[[], str]  # its README table, generated
    transports: tuple[str, ...] = ("tcp",)
    # A check that needs the whole [arc] (e.g. "needs a second receiver"): (key, why) naming
    # one of the receiver's keys, or None when all is well.
    check: Callable[[ArcConfig, int], tuple[str, str] | None] | None = None
