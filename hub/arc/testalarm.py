"""Test alarm: one test report to every configured receiver, in its protocol, with its answer
and round trip.

A technician runs it after installing a hub or changing the ARC settings (``trygg hub
test-alarm``). It talks to each receiver directly, not through the outbox: a test that cannot
be delivered is reported, not queued. Message numbers come from the hub's ARC outbox database
when one is given, so a test never reuses a number a real alarm carries.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config import ArcConfig
from .forwarder import open_link
from .outbox import ArcOutbox
from .protocol import DELIVERED, RESEND, Outcome
from .report import AlarmReport

# A RESEND asked for sooner than this is followed at once (DC-09's NAK with the receiver's
# clock); a longer one (SCAIP's HOLD) is reported as the test's result.
_RESEND_AT_ONCE_S = 1.0


@dataclass(frozen=True)
class ArcTestResult:
    receiver: str
    protocol: str
    address: str
    ok: bool
    detail: str
    sequence: int  # the message number (a DC-09 receiver sees it as its sequence number)
    wire_id: str
    round_trip_ms: float | None


async def run_test_alarm(config: ArcConfig, db_path: str | Path | None = None, *,
                         account: str | None = None, zone: int = 0) -> list[ArcTestResult]:
    """Send a test report to each receiver in ``config``; one result per receiver.

    ``db_path``: the hub's ARC outbox database (for message numbers); None uses a temporary
    one. ``account``: the account to test (default: the hub's ``[arc].account``).
    """
    with tempfile.TemporaryDirectory(prefix="trygg-arc-test-") as tmp:
        outbox = ArcOutbox(db_path if db_path is not None else Path(tmp) / "arc.sqlite")
        try:
            return [await _test_one(config, outbox, i, account or config.account, zone)
                    for i in range(len(config.receivers))]
        finally:
            outbox.close()


async def _test_one(config: ArcConfig, outbox: ArcOutbox, index: int, account: str,
                    zone: int) -> ArcTestResult:
    rc = config.receivers[index]
    now = time.time()
    report = AlarmReport(
        alarm_id=f"test-{rc.name}-{int(now * 1000)}", event="test", kind="test", priority=5,
        account=account, zone=zone, room=None, device_id=None,
        description="link test from the hub (trygg hub test-alarm)", raised_at=now)
    number = outbox.take_number()
    link = open_link(config, index)
    resends: list[str] = []
    try:
        for _ in range(link.resend_limit):
            outcome: Outcome = await link.send(report, number)
            if outcome.verdict == RESEND and outcome.after < _RESEND_AT_ONCE_S:
                resends.append(outcome.detail)
                continue
            break
    finally:
        await link.close()
    ok = outcome.verdict == DELIVERED
    detail = outcome.detail if ok else f"{outcome.verdict.upper()}: {outcome.detail}"
    if resends:
        detail += f" (after {len(resends)} resend(s): {resends[0]}; check the hub's clock)"
    return ArcTestResult(rc.name, rc.protocol, f"{rc.transport}://{rc.host}:{rc.port}", ok,
                         detail, number, outcome.wire_id,
                         round(outcome.rtt * 1000, 1) if ok else None)
