"""Hostile input on both ends of a SCAIP path, through a real kamailio: the centre console
and the hub's link reject garbage with a counted, named reason and carry on."""

from __future__ import annotations

import asyncio
import socket

from support.arc import config, report
from support.scaip import (
    CENTRE,
    CENTRE_PASSWORD,
    CID,
    CID_PASSWORD,
    USERS,
    needs_sip,
    scaip_receiver,
)
from trygg.hub.arc import scaip, scaip_sip
from trygg.hub.arc.protocol import DELIVERED, UNREACHABLE
from trygg.hub.arc.protocols.scaip import ScaipLink
from trygg.tools.sim.kamailio import Kamailio
from trygg.tools.sim.scaip_console import AnswerPolicy, ScaipConsole

pytestmark = needs_sip

WAIT = 10.0

GOOD = scaip.encode_mrq(scaip.Mrq(ref="77", cid=CID, dty=5, stc=9)).decode()
HOSTILE_REQUESTS = [
    ("not xml at all", scaip.CONTENT_TYPE),
    ('<!DOCTYPE mrq [<!ENTITY a "b">]><mrq><ref>&a;</ref></mrq>', scaip.CONTENT_TYPE),
    ("<mrq><ref>1</ref><cid>" + "9" * 30 + "</cid><dty>5</dty></mrq>", scaip.CONTENT_TYPE),
    ("<mrq>" + "<stt>x</stt>" * 200 + "</mrq>", scaip.CONTENT_TYPE),
    ("<mrq><ref>1</ref><cid>123</cid><dty>5</dty></mrq>", scaip.CONTENT_TYPE),  # From != cid
    (GOOD, "text/plain"),
    ("<mrq><ref>1</ref><cid>" + CID + "</cid><dty>zz</dty></mrq>", scaip.CONTENT_TYPE),
]


async def test_console_rejects_hostile_requests_and_still_takes_the_next_alarm() -> None:
    with Kamailio(USERS) as server:
        unit = await scaip_sip.SipAccount(scaip_sip.AccountConfig(
            CID, CID_PASSWORD, server.host, server.port, "udp", "127.0.0.1")).open()
        try:
            async with ScaipConsole(server.host, server.port, user=CENTRE,
                                    password=CENTRE_PASSWORD) as console:
                assert await unit.wait_registered(WAIT)
                to = unit.config.uri_for(CENTRE)
                for body, content_type in HOSTILE_REQUESTS:
                    status = await unit.send_message(to, body, content_type)
                    assert status.delivered  # SIP took it; the console judges it
                # Raw garbage at the console's own SIP port is PJSIP's to drop.
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"\x00\xff garbage \r\n\r\n" * 50, await console.local_address())
                    s.sendto(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n<mrq>",
                             await console.local_address())
                await unit.send_message(to, GOOD, scaip.CONTENT_TYPE)
                assert await console.wait_until(
                    lambda ev: len(ev) == len(HOSTILE_REQUESTS) + 1, WAIT)
        finally:
            await unit.close()
    *bad, good = console.events
    assert [e.mrq for e in bad] == [None] * len(HOSTILE_REQUESTS)
    assert all(e.error for e in bad)
    assert "From user '4670001' is not the cid '123'" in (bad[4].error or "")
    assert "content type 'text/plain'" in (bad[5].error or "")
    assert "REJECTED" in bad[0].operator_line()
    assert console.counters["rejected"] == len(HOSTILE_REQUESTS)
    assert good.mrq is not None
    assert good.snu == 0
    assert good.kind == "device_fall"


async def test_link_ignores_garbage_answers_and_answers_from_strangers() -> None:
    with Kamailio(USERS) as server:
        cfg = config(scaip_receiver("arc", server.port, response_timeout=1.0))
        link = ScaipLink(cfg.receivers[0], cfg, lambda: 0.0)
        fake = await scaip_sip.SipAccount(scaip_sip.AccountConfig(
            CENTRE, CENTRE_PASSWORD, server.host, server.port, "udp", "127.0.0.1"),
            on_message=lambda m: asyncio.ensure_future(answer(m))).open()
        replies: list[str] = []

        async def answer(message: scaip_sip.IncomingMessage) -> None:
            ref = scaip.parse_mrq(message.body).ref
            for body in replies:
                await fake.send_message(fake.config.uri_for(CID), body.format(ref=ref),
                                        scaip.CONTENT_TYPE)

        try:
            assert await fake.wait_registered(WAIT)
            replies[:] = ["<mrs><ref>{ref}</ref><snu>zero</snu></mrs>",
                          '<!DOCTYPE a [<!ENTITY b "0">]><mrs><ref>{ref}</ref><snu>&b;</snu>'
                          "</mrs>",
                          "<mrs><ref>999{ref}</ref><snu>0</snu></mrs>",
                          "x" * 2000]
            outcome = await link.send(report("fire"), 5)
            assert outcome.verdict == UNREACHABLE
            assert "no <mrs>" in outcome.detail
            counters = link.counters()
            assert counters["bad_answers"] == 3
            assert counters["foreign_messages"] == 1
            replies[:] = ["<mrs><ref>{ref}</ref><snu>0</snu></mrs>"]
            assert (await link.send(report("fire"), 6)).verdict == DELIVERED
        finally:
            await link.close()
            await fake.close()


async def test_an_answer_from_another_sip_user_is_not_taken_as_the_centres() -> None:
    with Kamailio(USERS | {"intruder": "pw"}) as server:
        cfg = config(scaip_receiver("arc", server.port, response_timeout=1.0))
        link = ScaipLink(cfg.receivers[0], cfg, lambda: 0.0)
        intruder = await scaip_sip.SipAccount(scaip_sip.AccountConfig(
            "intruder", "pw", server.host, server.port, "udp", "127.0.0.1")).open()
        async with ScaipConsole(server.host, server.port, user=CENTRE, password=CENTRE_PASSWORD,
                                policy=AnswerPolicy.parse("silent")) as console:
            try:
                assert await intruder.wait_registered(WAIT)
                sending = asyncio.ensure_future(link.send(report("fire"), 8))
                assert await console.wait_until(bool, WAIT)
                await intruder.send_message(intruder.config.uri_for(CID),
                                            "<mrs><ref>8</ref><snu>0</snu></mrs>",
                                            scaip.CONTENT_TYPE)
                outcome = await sending
            finally:
                await link.close()
                await intruder.close()
    assert outcome.verdict == UNREACHABLE
    assert link.counters()["foreign_messages"] == 1
