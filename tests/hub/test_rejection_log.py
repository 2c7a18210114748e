"""A flood of each kind of rejected frame through a real mosquitto into the hub: the counters are
exact and the log stays bounded (the first rejection of a device and reason at once, then one
line per interval with the exact count of the rest). Before, 2,000 frames with a reused sequence
number wrote 2,000 WARNING lines (366 KB). The ARC link's skipped answers likewise."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.arc import RESIDENT, RawReceiver, answer, config, receiver
from support.hub import (
    DEV_A,
    DEV_B,
    KEY_A,
    KEY_B,
    WAIT_S,
    eventually,
    make_config,
    pair,
    rejections,
    running_hub,
)
from trygg.hub.arc import dc09
from trygg.hub.arc.link import ReceiverLink
from trygg.protocol import cose, frame
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto, free_port

FLOOD = 2000
UNPAIRED = "0000000000aa"
KID_A = bytes.fromhex(DEV_A)


def _reused(i: int) -> bytes:  # sequence number 0 again, other content each time
    return frame.seal({"type": "event", "uptime": 10 + i, "event": "motion"},
                      cose.MacKey(KEY_A), KID_A, 0)


# kind -> (reason counted, device counted under, topic, payload of the i-th frame)
KINDS: dict[str, tuple[str, str, str | None, Callable[[int], bytes]]] = {
    "empty": ("truncated", DEV_A, None, lambda i: b""),
    "garbage": ("malformed", DEV_A, None, lambda i: b"\xff" * 40),
    "oversized": ("oversized", DEV_A, None, lambda i: bytes(300)),
    "forged": ("bad_mac", DEV_A, None, lambda i: frame.seal(
        {"type": "event", "uptime": i, "event": "smoke_alarm"}, cose.MacKey(bytes(32)), KID_A,
        1000 + i)),
    "other_devices_frame": ("topic_mismatch", DEV_A, None, lambda i: frame.seal(
        {"type": "event", "uptime": i, "event": "bed_out"}, cose.MacKey(KEY_B),
        bytes.fromhex(DEV_B), 1000 + i)),
    "reused_sequence_number": ("seq_reused", DEV_A, None, _reused),
    "unpaired_topic": ("unknown_kid", "", f"trygg/{UNPAIRED}/up", lambda i: b"x"),
    "bad_topic": ("bad_topic", "", "trygg/xyz/up", lambda i: b"x"),
    "rate_limited": ("rate_limited", DEV_A, None, lambda i: frame.seal(
        {"type": "event", "uptime": i, "event": "motion"}, cose.MacKey(KEY_A), KID_A, 1 + i)),
}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def capture(name: str) -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def hub_lines() -> Iterator[Lines]:
    yield from capture("trygg.hub")


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_flood_of_rejected_frames_is_counted_exactly_and_logged_a_bounded_number_of_times(
        tmp_path: Path, mosquitto: Mosquitto, hub_lines: Lines, kind: str) -> None:
    reason, counted_as, topic, payload = KINDS[kind]
    ingest: dict[str, Any] = {"device_rate_per_s": 10000.0, "device_burst": 10 * FLOOD}
    if kind == "rate_limited":  # the first event takes the only token: the flood is over it
        ingest = {"device_rate_per_s": 0.01, "device_burst": 1}
    cfg = make_config(tmp_path, mosquitto, ingest=ingest, hub={"tick_s": 300})
    pair(cfg, (DEV_A, KEY_A, "motion", "hall"), (DEV_B, KEY_B, "bed", "bedroom"))
    async with running_hub(cfg) as hub, SimulatedDevice(DEV_A, KEY_A, mosquitto.host,
                                                        mosquitto.port) as dev:
        first = await dev.event("motion")  # seq 0, stored and acked
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({first})
        for start in range(0, FLOOD, 10):  # QoS 1, ten PUBACKs awaited at a time
            await asyncio.gather(*(dev.publish_raw(payload(i), topic)
                                   for i in range(start, min(FLOOD, start + 10))))
        counts = hub.ingest.counts
        await eventually(lambda: counts["received"] == FLOOD + 1 and hub.ingest.idle.is_set(),
                         WAIT_S, "every frame of the flood at the hub")
        await hub.tick()  # writes the counters
        # Every frame accounted for: nothing dropped silently.
        assert counts["received"] == counts["stored"] + counts["reacked"] + counts["rejected"]
        hub.ingest.rejection_log.flush(hub.ingest.rejection_log.clock() + 1e6)  # interval over
    got = rejections(cfg)
    expected = FLOOD
    assert got == {(counted_as, reason): expected}
    mentioning = [line for line in hub_lines.lines if reason in line]
    assert len(mentioning) == 2, mentioning  # the first at once, the summary of the rest
    assert f"{expected - 1} more rejected as {reason}" in mentioning[1]


async def test_the_arc_links_skipped_answers_are_counted_exactly_and_logged_boundedly(
        ) -> None:
    """Whatever answers on the receiver's port sends 500 frames with a bad CRC and 500 answers
    to another sequence number before each real answer, for 4 messages."""
    per_message = 500

    async def hostile(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
        good = answer("ACK", message.seq)
        bad_crc = b"\n0000" + good[5:]
        other = answer("ACK", dc09.next_sequence(message.seq))
        writer.write(bad_crc * per_message + other * per_message + good)
        await writer.drain()

    port = free_port()
    arc = config(receiver("centre", port))
    lines_gen = capture("trygg.hub.arc.link")
    lines = next(lines_gen)
    try:
        async with RawReceiver(port, hostile):
            link = ReceiverLink(arc.receivers[0], ack_timeout=5.0, connect_timeout=5.0)
            for seq in range(1, 5):
                message = dc09.encode_message("SIA-DCS", seq, dc09.Address(RESIDENT),
                                              "#5678|NRR", timestamp=time.time())
                outcome = await link.exchange(message, seq)
                assert outcome.kind == "ack", outcome
            await link.close()
        link.rejection_log.flush(link.rejection_log.clock() + 1e6)
    finally:
        lines_gen.close()
    assert link.counters.bad_frames == 4 * per_message
    assert link.counters.wrong_sequence == 4 * per_message
    assert len(lines.lines) == 4, lines.lines  # per kind: the first, and the summary
    for kind, n in (("bad_frame", 4 * per_message), ("wrong_sequence", 4 * per_message)):
        mentioning = [line for line in lines.lines if kind in line]
        assert len(mentioning) == 2, mentioning
        assert f"{n - 1} more rejected as {kind}" in mentioning[1]
