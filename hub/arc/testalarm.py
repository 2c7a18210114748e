"""Test alarm: one DC-09 test report to every configured receiver, with its ACK and round trip.

A technician runs it after installing a hub or changing the ARC settings (``trygg hub
test-alarm``). It talks to each receiver directly, not through the outbox: a test that cannot
be delivered is reported, not queued. Sequence numbers come from the hub's ARC outbox
database when one is given, so a test never reuses a number a real alarm carries.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config import ArcConfig
from .forwarder import encode_report
from .link import ReceiverLink
from .outbox import ArcOutbox
from .report import AlarmReport


@dataclass(frozen=True)
class ArcTestResult:
    receiver: str
    address: str
    ok: bool
    detail: str
    sequence: int
    round_trip_ms: float | None


async def run_test_alarm(config: ArcConfig, db_path: str | Path | None = None, *,
                         account: str | None = None, zone: int = 0) -> list[ArcTestResult]:
    """Send a test report to each receiver in ``config``; one result per receiver.

    ``db_path``: the hub's ARC outbox database (for sequence numbers); None uses a
    temporary one. ``account``: the account to test (default: the hub's ``[arc].account``).
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
    seq = outbox.take_sequence()
    link = ReceiverLink(rc, ack_timeout=config.ack_timeout,
                        connect_timeout=config.connect_timeout)
    offset = 0.0
    try:
        for _ in range(config.nak_resend_limit):
            outcome = await link.exchange(
                encode_report(report, seq, config, index, time.time() + offset), seq)
            answer = outcome.answer
            if outcome.kind == "nak" and answer is not None and answer.timestamp is not None:
                offset = answer.timestamp - time.time()
                continue
            break
    finally:
        await link.close()
    ok = outcome.kind == "ack"
    detail = "ACK" if ok else f"{outcome.kind.upper()}: {outcome.detail}"
    if offset:
        detail += f" (receiver clock {offset:+.0f} s from ours: fix the hub's time)"
    return ArcTestResult(rc.name, f"{rc.protocol}://{rc.host}:{rc.port}", ok, detail, seq,
                         round(outcome.rtt * 1000, 1) if ok else None)
