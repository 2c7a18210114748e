"""SIA DC-09 (ANSI/SIA DC-09-2013) as a centre protocol: SIA-DCS or ADM-CID messages over TCP
or UDP, optionally AES-encrypted.

The framing is the sans-I/O codec in ``hub/arc/dc09.py``, the link ``hub/arc/link.py``, the
code table ``hub/arc/codes.py``; this module ties them to the seam (``hub/arc/protocol.py``):
its receiver keys, the report on the wire, and the verdict on each answer.

- ACK (``*ACK`` when encrypted, §5.5.3.1): delivered.
- NAK (§5.5.3.2): the receiver's clock disagrees with ours; its timestamp is adopted and the
  message resent at once (up to ``[arc].nak_resend_limit`` times in a row).
- DUH: the receiver cannot process this message: held back with backoff, others go on.
- Silence, garbage, a closed or refused connection: unreachable.

The message number becomes the 4-digit sequence number ``(number - 1) % 9999 + 1``
(§5.5.1.5), so every transmission of a report carries the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...config_reader import TableReader
from .. import codes, dc09
from ..link import Outcome as LinkOutcome
from ..link import ReceiverLink
from ..protocol import (
    DELIVERED,
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

FORMATS = ("SIA-DCS", "ADM-CID")

# Text limits for extended data: keep every frame far below the 1,000 bytes some receivers
# read in one go (an encrypted frame doubles the data in hex).
ROOM_TEXT_MAX = 32
ALARM_TEXT_MAX = 80


@dataclass(frozen=True)
class Dc09Receiver(ReceiverConfig):
    format: str = "SIA-DCS"  # SIA-DCS | ADM-CID
    receiver_number: str | None = None  # the "R" field, 1-6 hex digits
    line: str = "0"  # the "L" field (account prefix), 1-6 hex digits
    key: bytes | None = None  # AES-128/192/256


def sequence(number: int) -> int:
    """The DC-09 sequence number (0001-9999) of outbox message ``number``."""
    return (number - 1) % dc09.SEQUENCE_LAST + 1


def parse_receiver(reader: TableReader, common: ReceiverConfig) -> Dc09Receiver:
    fmt = reader.choice("format", "SIA-DCS", FORMATS)
    number = reader.hex_text("receiver_number", None, 1, 6)
    line = reader.hex_text("line", "0", 1, 6) or "0"
    key: bytes | None = None
    key_text = reader.get("key", str, None)
    if key_text is not None:
        try:
            key = bytes.fromhex(key_text)
        except ValueError:
            raise reader.error("key", "not hex (give the AES key as 32, 48 or 64 hex "
                               "digits)") from None
        if len(key) not in dc09.AES_KEY_SIZES:
            raise reader.error("key", f"{len(key)} bytes; an AES key is 16, 24 or 32 bytes "
                               "(32, 48 or 64 hex digits), DC-09 §5.4.5")
    return Dc09Receiver(name=common.name, host=common.host, port=common.port,
                        protocol=common.protocol, transport=common.transport, format=fmt,
                        receiver_number=number, line=line, key=key)


def encode_report(report: AlarmReport, seq: int, rc: Dc09Receiver, partition: int,
                  timestamp: float) -> bytes:
    """The DC-09 message for ``report`` as receiver ``rc`` expects it."""
    address = dc09.Address(report.account, rc.line, rc.receiver_number)
    if rc.format == "ADM-CID":
        row = codes.CODES[report.kind]
        data = dc09.adm_cid_data(report.account, codes.cid_qualifier(report.event),
                                 row.cid_event, partition, report.zone)
        return dc09.encode_message("ADM-CID", seq, address, data, timestamp=timestamp,
                                   key=rc.key)
    data = dc09.sia_dcs_data(report.account, codes.sia_code(report.kind, report.event),
                             report.zone, partition)
    # DC-09 extended data: [H] time the alarm was raised (the message timestamp is the time
    # of transmission), [R] room, [I] alarm text with the Trygg kind, which tells apart kinds
    # that share a SIA code.
    extended = [("H", dc09.format_timestamp(report.raised_at)[1:])]
    if report.room:
        room = dc09.clean_text(report.room, ROOM_TEXT_MAX)
        if room:
            extended.append(("R", room))
    text = dc09.clean_text(f"{report.kind}: {report.description}", ALARM_TEXT_MAX)
    if text:
        extended.append(("I", text))
    return dc09.encode_message("SIA-DCS", seq, address, data, extended, timestamp=timestamp,
                               key=rc.key)


def encode_link_test(account: str, seq: int, rc: Dc09Receiver, timestamp: float) -> bytes:
    """A DC-09 NULL message (§5.5.2.1) from the hub's own account."""
    return dc09.encode_message("NULL", seq, dc09.Address(account, rc.line, rc.receiver_number),
                               "", timestamp=timestamp, key=rc.key)


class Dc09Link(CentreLink):
    def __init__(self, config: ReceiverConfig, arc: ArcConfig, clock: Clock) -> None:
        if not isinstance(config, Dc09Receiver):
            raise TypeError(f"DC-09 link for a {type(config).__name__}")
        super().__init__(config, arc, clock)
        self.receiver: Dc09Receiver = config
        self.link = ReceiverLink(config, ack_timeout=arc.ack_timeout,
                                 connect_timeout=arc.connect_timeout)
        self.clock_offset = 0.0  # receiver clock minus ours, learnt from a NAK (§5.5.3.2)

    async def send(self, report: AlarmReport, number: int) -> Outcome:
        seq = sequence(number)
        message = encode_report(report, seq, self.receiver, self.arc.partition,
                                self.clock() + self.clock_offset)
        return self._judge(await self.link.exchange(message, seq), seq)

    async def link_test(self, number: int) -> Outcome:
        seq = sequence(number)
        message = encode_link_test(self.arc.account, seq, self.receiver,
                                   self.clock() + self.clock_offset)
        return self._judge(await self.link.exchange(message, seq), seq)

    def _judge(self, outcome: LinkOutcome, seq: int) -> Outcome:
        wire = f"sequence {seq:04d}"
        if outcome.kind == "ack":
            return Outcome(DELIVERED, "ACK", wire, outcome.rtt)
        if outcome.kind == "nak":
            self._resync(outcome)
            return Outcome(RESEND, "NAK: timestamps resynced, resending", wire, outcome.rtt)
        if outcome.kind == "duh":
            return Outcome(HOLD_BACK, "DUH: receiver cannot process this message", wire,
                           outcome.rtt)
        return Outcome(UNREACHABLE, outcome.detail, wire)

    def _resync(self, outcome: LinkOutcome) -> None:
        answer = outcome.answer
        if answer is None or answer.timestamp is None:
            return
        # The NAK's timestamp is the receiver's clock when it answered; half the round trip
        # is below the timestamp's 1 s resolution on any usable link.
        self.clock_offset = answer.timestamp - self.clock()

    def counters(self) -> dict[str, object]:
        return vars(self.link.counters).copy()

    async def close(self) -> None:
        await self.link.close()


def _code_summary(kind: str) -> str:
    row = codes.CODES[kind]
    return f"SIA {row.sia_raised}/{row.sia_resolved}, Contact ID {row.cid_event:03d}"


PROTOCOL = CentreProtocol(
    name="dc09",
    title="SIA DC-09",
    parse_receiver=parse_receiver,
    open_link=Dc09Link,
    codes={kind: _code_summary(kind) for kind in codes.CODES},
    code_table_markdown=codes.operator_table_markdown,
    transports=("tcp", "udp"),
)
