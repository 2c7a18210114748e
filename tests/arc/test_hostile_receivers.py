"""Hostile receivers: garbage, wrong sequence numbers, endless streams, silence, spoofed and
DUH answers. The forwarder must neither crash nor drop an alarm. The hostile receivers are
small raw TCP servers written here; the good receiver is pysiaalarm."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.arc import (
    HUB,
    KEY_128,
    RESIDENT,
    Behaviour,
    RawReceiver,
    answer,
    config,
    receiver,
    report,
    silence,
)
from trygg.hub.arc import ArcForwarder, dc09
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.mosquitto import free_port

WAIT = 15.0


async def garbage(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x00\xff\xfeHELLO\r\n\n0000FFFF\"ACK\r\n\"ACK\"" + bytes(range(256)))
    await writer.drain()


async def wrong_sequence(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
    writer.write(answer("ACK", dc09.next_sequence(message.seq)) + answer("NAK", 1234)
                 + answer("ACK", 0))
    await writer.drain()


async def endless_stream(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
    # Bounded in count (4 MiB per message) so the test ends even if the forwarder did not.
    for i in range(1024):
        writer.write((b"\n%04X" % i) + b"X" * 4091)
        await writer.drain()


async def plain_ack_to_encrypted(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
    # A plain ACK to an encrypted message (DC-09 §5.5.3.1 requires "*ACK"): anyone on the path
    # could forge it, so it must not count as delivery.
    writer.write(answer("ACK", message.seq))
    await writer.drain()


@pytest.mark.parametrize("behaviour", [garbage, wrong_sequence, endless_stream, silence,
                                       plain_ack_to_encrypted],
                         ids=lambda b: b.__name__)
async def test_hostile_primary_never_crashes_forwarder_nor_drops_alarms(
        tmp_path: Path, behaviour: Behaviour) -> None:
    hostile_port, good_port = free_port(), free_port()
    cfg = config(receiver("hostile", hostile_port, key=KEY_128),
                 receiver("good", good_port, key=KEY_128), ack_timeout=0.4)
    alarms = [report(kind, zone=z) for z, kind in
              enumerate(("fire", "possible_fall", "low_battery"), start=1)]
    async with RawReceiver(hostile_port, behaviour, KEY_128) as hostile, \
            ArcConsole(good_port, [(RESIDENT, KEY_128), (HUB, KEY_128)]) as good, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
        for alarm in alarms:
            await fwd.submit(alarm)
        assert await fwd.wait_drained(WAIT)
        assert await good.wait_until(
            lambda ev: {e.zone for e in ev if e.kind != "receiver_unreachable"} >= {1, 2, 3},
            WAIT)
        assert hostile.received, "the hostile receiver was tried first"
        assert all(not task.done() for task in fwd._tasks), "forwarder tasks still running"
        counters = fwd.counters()["hostile"]
    assert [e.kind for e in good.alarms() if e.zone in (1, 2, 3)] == [
        "fire", "possible_fall", "low_battery"]
    if behaviour is wrong_sequence:
        assert counters["wrong_sequence"]
    if behaviour in (garbage, endless_stream):
        assert counters["discarded_bytes"] or counters["bad_frames"]


async def test_duh_holds_back_one_report_without_blocking_the_rest(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(receiver("arc", port), ack_timeout=0.4)
    duh_once: set[str] = set()
    order: list[str] = []

    async def duh_first_fire(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
        if message.token == "SIA-DCS":
            code = message.data.split("/")[-1][:2]
            if code == "FA" and "FA" not in duh_once:
                duh_once.add("FA")
                writer.write(answer("DUH", message.seq))
                await writer.drain()
                return
            order.append(code)
        writer.write(answer("ACK", message.seq, message.account or RESIDENT))
        await writer.drain()

    failures: list[str] = []
    async with RawReceiver(port, duh_first_fire), ArcForwarder(
            cfg, tmp_path / "arc.sqlite",
            on_delivery=lambda a, e, r, ok, d: None if ok else failures.append(d)) as fwd:
        await fwd.submit(report("fire"))
        await fwd.submit(report("missed_dose"))
        assert await fwd.wait_drained(WAIT)
    # The DUH'd fire alarm waited out its backoff while the next report went through, then
    # arrived: held back, not dropped.
    assert order == ["MT", "FA"]
    assert failures[0].startswith("DUH")
