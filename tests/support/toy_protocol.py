"""A fourth centre protocol in one module, for tests/arc/test_seam.py: one text line per
message over TCP, "ALARM <number> <kind> <event> <account> <zone>", answered by
"OK <number>", "AGAIN <number> <seconds>", "ELSEWHERE <number>" or "LATER <number>".

It exists to prove the seam: registered by name, it plugs into the same forwarder, outbox,
failover and supervision as DC-09, with nothing but this module (and its registration).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from trygg.hub.arc.protocol import (
    DELIVERED,
    FAILOVER,
    HOLD_BACK,
    RESEND,
    UNREACHABLE,
    CentreLink,
    CentreProtocol,
    Outcome,
    ReceiverConfig,
)
from trygg.hub.arc.report import AlarmReport
from trygg.hub.config_reader import TableReader
from trygg.hub.rules.alarm_kinds import KINDS


@dataclass(frozen=True)
class ToyReceiver(ReceiverConfig):
    greeting: str = "hello"


def parse_receiver(reader: TableReader, common: ReceiverConfig) -> ToyReceiver:
    return ToyReceiver(common.name, common.host, common.port, common.protocol,
                       common.transport, greeting=reader.text("greeting", "hello"))


class ToyLink(CentreLink):
    async def send(self, report: AlarmReport, number: int) -> Outcome:
        return await self._exchange(f"ALARM {number} {report.kind} {report.event} "
                                    f"{report.account} {report.zone}", number)

    async def link_test(self, number: int) -> Outcome:
        return await self._exchange(f"PING {number}", number)

    async def _exchange(self, line: str, number: int) -> Outcome:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.arc.ack_timeout):
                reader, writer = await asyncio.open_connection(self.config.host,
                                                               self.config.port)
                try:
                    writer.write(line.encode() + b"\n")
                    answer = (await reader.readline()).decode(errors="replace").split()
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            return Outcome(UNREACHABLE, f"{type(exc).__name__}", f"number {number}")
        rtt = time.monotonic() - started
        wire = f"number {number}"
        if len(answer) < 2 or answer[1] != str(number):
            return Outcome(UNREACHABLE, f"bad answer {answer!r}", wire)
        verdict = {"OK": DELIVERED, "AGAIN": RESEND, "ELSEWHERE": FAILOVER,
                   "LATER": HOLD_BACK}.get(answer[0], UNREACHABLE)
        after = float(answer[2]) if verdict == RESEND and len(answer) > 2 else 0.0
        return Outcome(verdict, answer[0], wire, rtt, after)

    def counters(self) -> dict[str, object]:
        return {}


PROTOCOL = CentreProtocol(
    name="toy",
    title="Toy line protocol",
    parse_receiver=parse_receiver,
    open_link=ToyLink,
    codes={kind: kind.upper() for kind in KINDS},
    code_table_markdown=lambda: "",
)
