"""SCAIP end to end: the hub's forwarder -> a real kamailio (registrar and proxy, Digest) ->
the SCAIP centre console, over UDP and TCP; every answer a centre can give, a SIP server
restart in the middle, and a centre that never answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from support.arc import config, report
from support.scaip import (
    CENTRE,
    CENTRE_PASSWORD,
    CID,
    SECOND_CENTRE,
    USERS,
    needs_sip,
    scaip_receiver,
)
from trygg.hub.arc import ArcForwarder, scaip, scaip_sip
from trygg.tools.sim.kamailio import Kamailio
from trygg.tools.sim.scaip_console import AnswerPolicy, ScaipConsole

pytestmark = needs_sip

WAIT = 15.0


@pytest.fixture
def kamailio() -> Kamailio:  # type: ignore[misc]
    with Kamailio(USERS) as server:
        yield server


@asynccontextmanager
async def centre(server: Kamailio, answer: str = "ok", transport: str = "udp",
                 user: str = CENTRE) -> AsyncIterator[ScaipConsole]:
    async with ScaipConsole(server.host, server.port, user=user, password=CENTRE_PASSWORD,
                            transport=transport,
                            policy=AnswerPolicy.parse(answer)) as console:
        yield console


@pytest.mark.parametrize(("hub_transport", "centre_transport"),
                         [("udp", "udp"), ("tcp", "tcp"), ("tcp", "udp")])
async def test_alarm_reaches_the_centre_through_kamailio_and_is_accepted(
        kamailio: Kamailio, tmp_path: Path, hub_transport: str, centre_transport: str) -> None:
    delivered: list[tuple[str, str, bool, str]] = []
    cfg = config(scaip_receiver("arc", kamailio.port, transport=hub_transport))
    async with centre(kamailio, transport=centre_transport) as console, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite",
                         on_delivery=lambda a, e, r, ok, d: delivered.append((a, r, ok, d))
                         ) as fwd:
        await fwd.submit(report("fire", alarm_id="fire-1", zone=4, room="kitchen"))
        assert await fwd.wait_drained(WAIT)
    (event,) = console.alarms()
    assert event.mrq is not None
    assert (event.mrq.cid, event.mrq.dty, event.mrq.stc, event.mrq.lco, event.mrq.lte) == (
        CID, 23, scaip.STC_ALARM_AUTOMATIC, 4, "kitchen")
    assert event.kind == "fire"
    assert event.snu == 0
    assert delivered == [("fire-1", "arc", True, delivered[0][3])]
    assert "snu 0" in delivered[0][3]
    assert "FIRE ALARM" in event.operator_line()


async def test_hold_resends_the_same_request_until_the_centre_says_ok(
        kamailio: Kamailio, tmp_path: Path) -> None:
    cfg = config(scaip_receiver("arc", kamailio.port))
    async with centre(kamailio, "hold 3") as console, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
        await fwd.submit(report("assistance"))
        assert await fwd.wait_drained(WAIT)
    got = console.alarms()
    assert [e.snu for e in got] == [4, 4, 4, 0]
    assert len({e.mrq.ref for e in got if e.mrq}) == 1  # one request, sent four times
    assert len({scaip.encode_mrq(e.mrq) for e in got if e.mrq}) == 1


async def test_hold_beyond_hold_max_resets_and_takes_the_next_path(
        tmp_path: Path) -> None:
    with Kamailio(USERS) as first_server, Kamailio(USERS) as second_server:
        cfg = config(scaip_receiver("first", first_server.port, hold_max=0.5),
                     scaip_receiver("second", second_server.port, centre=SECOND_CENTRE))
        async with centre(first_server, "hold") as first, \
                centre(second_server, "ok", user=SECOND_CENTRE) as second, \
                ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
            await fwd.submit(report("device_fall"))
            assert await fwd.wait_drained(WAIT)
            assert await first.wait_until(
                lambda ev: any(e.mrq and e.mrq.mty == "RE" for e in ev), WAIT)
    held = [e for e in first.events if e.mrq and e.mrq.mty == "ME"]
    assert len(held) >= 2
    assert {e.snu for e in held} == {4}
    (accepted,) = second.alarms()
    assert accepted.mrq is not None
    assert accepted.snu == 0
    assert accepted.mrq.ref == held[0].mrq.ref  # type: ignore[union-attr]


async def test_not_treated_resets_and_fails_over_to_the_second_receiver(
        tmp_path: Path) -> None:
    with Kamailio(USERS) as first_server, Kamailio(USERS) as second_server:
        cfg = config(scaip_receiver("first", first_server.port),
                     scaip_receiver("second", second_server.port, centre=SECOND_CENTRE))
        delivered: list[str] = []
        async with centre(first_server, "not-treated") as first, \
                centre(second_server, "ok", user=SECOND_CENTRE) as second, \
                ArcForwarder(cfg, tmp_path / "arc.sqlite",
                             on_delivery=lambda a, e, r, ok, d:
                             delivered.append(r) if ok else None) as fwd:
            await fwd.submit(report("fire"))
            assert await fwd.wait_drained(WAIT)
            assert await first.wait_until(
                lambda ev: any(e.mrq and e.mrq.mty == "RE" for e in ev), WAIT)
    assert delivered == ["second"]
    (refused,) = first.alarms()
    (reset,) = [e for e in first.events if e.mrq and e.mrq.mty == "RE"]
    (accepted,) = second.alarms()
    assert refused.snu == 5
    assert accepted.snu == 0
    assert refused.mrq
    assert reset.mrq
    assert accepted.mrq
    assert refused.mrq.ref == reset.mrq.ref == accepted.mrq.ref


async def test_busy_holds_one_report_back_and_delivers_it_later(
        kamailio: Kamailio, tmp_path: Path) -> None:
    cfg = config(scaip_receiver("arc", kamailio.port))
    async with centre(kamailio, "busy") as console, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
        await fwd.submit(report("missed_dose"))
        assert await console.wait_until(lambda ev: len(ev) >= 2, WAIT)
        assert not await fwd.wait_drained(0.1)
        console.policy = AnswerPolicy.parse("ok")
        assert await fwd.wait_drained(WAIT)
    got = console.alarms()
    assert got[-1].snu == 0
    assert {e.snu for e in got[:-1]} == {6}
    assert len({e.mrq.ref for e in got if e.mrq}) == 1


async def test_kamailio_restart_mid_stream_loses_nothing(
        kamailio: Kamailio, tmp_path: Path) -> None:
    cfg = config(scaip_receiver("arc", kamailio.port, transport="tcp"))
    async with centre(kamailio) as console, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
        await fwd.submit(report("fire", zone=1))
        assert await fwd.wait_drained(WAIT)
        kamailio.restart()
        for zone in (2, 3, 4):
            await fwd.submit(report("assistance", zone=zone))
        assert await fwd.wait_drained(WAIT)
    # The restart may cost one attempt (the SIP server forgets the TCP connection to the hub
    # until it re-registers), which the forwarder reports as a link notice (zone 0).
    # A request whose answer was lost in the restart is sent again with the same ref: the
    # centre sees a retransmission, never a second alarm.
    alarms = [e.mrq for e in console.alarms() if e.mrq and e.kind != "receiver_unreachable"]
    refs = {zone: {m.ref for m in alarms if m.lco == zone} for zone in (1, 2, 3, 4)}
    assert all(len(r) == 1 for r in refs.values()), refs
    accepted = {e.mrq.lco for e in console.alarms() if e.mrq and e.snu == 0}
    assert accepted >= {1, 2, 3, 4}


async def test_centre_that_never_answers_is_unreachable_and_the_alarm_waits(
        kamailio: Kamailio, tmp_path: Path) -> None:
    cfg = config(scaip_receiver("arc", kamailio.port, response_timeout=0.3))
    outcomes: list[tuple[bool, str]] = []
    async with centre(kamailio, "silent") as console, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite",
                         on_delivery=lambda a, e, r, ok, d: outcomes.append((ok, d))) as fwd:
        await fwd.submit(report("inactivity"))
        assert await console.wait_until(lambda ev: len(ev) >= 2, WAIT)
        assert not outcomes or not outcomes[0][0]
        assert "no <mrs>" in outcomes[0][1]
        assert "not acceptance" in outcomes[0][1]
        console.policy = AnswerPolicy.parse("ok")
        assert await fwd.wait_drained(WAIT)
    assert outcomes[-1][0]
    resident = [e for e in console.alarms() if e.mrq and e.kind == "inactivity"]
    assert len(resident) >= 2  # sent again after the silence ...
    assert len({e.mrq.ref for e in resident if e.mrq}) == 1  # ... as the same request


async def test_the_hub_registers_when_its_forwarder_starts_so_the_centre_reaches_it_at_once(
        kamailio: Kamailio, tmp_path: Path) -> None:
    cfg = config(scaip_receiver("arc", kamailio.port))
    centre = await scaip_sip.SipAccount(scaip_sip.AccountConfig(
        CENTRE, CENTRE_PASSWORD, kamailio.host, kamailio.port, "udp", "127.0.0.1")).open()
    try:
        assert await centre.wait_registered(WAIT)
        async with ArcForwarder(cfg, tmp_path / "arc.sqlite"):
            # No report yet: the registrar knows the hub only if it registered on its own.
            # 404 until it has; bounded in tries and by WAIT.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            status = None
            for _ in range(100):
                status = await centre.send_message(centre.config.uri_for(CID),
                                                   "<mrs><ref>1</ref><snu>0</snu></mrs>",
                                                   scaip.CONTENT_TYPE)
                if status.delivered or loop.time() > deadline:
                    break
                await asyncio.sleep(0.1)  # the REGISTER has no event we can see from here
    finally:
        await centre.close()
    assert status is not None
    assert status.code == 200, status
