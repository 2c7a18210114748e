"""SOS Access v4: the hub's sender against its console, both checked against the independent
client on PyPI (``sos-access``): the console accepts what that client sends, and the hub's
requests parse the way that client builds them (its own marshmallow schemas)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from sos_access.client import SOSAccessClient
from sos_access.exceptions import DuplicateAlarm
from sos_access.schemas import AlarmRequestSchema, PingRequestSchema

from support.arc import HUB, RESIDENT, config, receiver, report
from trygg.hub.arc import ArcConfigError, ArcForwarder
from trygg.hub.arc.forwarder import open_link
from trygg.hub.arc.protocols import sos_access as sos
from trygg.hub.rules.alarm_kinds import KINDS
from trygg.tools.sim import sos_access_console
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.sos_access_console import SosAccessConsole, SosRequest

WAIT = 10.0
CODE, TYPE = "1234567", "TRYGG"
PASSWORD = "hxp4x9nnwxjatv8"


@pytest.fixture
def auth_file(tmp_path: Path) -> Path:
    path = tmp_path / "sos-auth"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def sos_receiver(name: str, port: int, auth: Path, **extra: Any) -> dict[str, Any]:
    return {"name": name, "host": "127.0.0.1", "port": port, "protocol": "sos-access",
            "transmitter_code": CODE, "transmitter_type": TYPE, "receiver_id": "42",
            "authentication_file": str(auth), **extra}


def console(port: int, **kwargs: Any) -> SosAccessConsole:
    return SosAccessConsole(port, {CODE: PASSWORD}, **kwargs)


# -- against the independent client --------------------------------------------------------


def test_hub_requests_parse_as_the_sos_access_package_builds_them(auth_file: Path) -> None:
    cfg = config(sos_receiver("sos", 1, auth_file))
    link = open_link(cfg, 0)
    assert isinstance(link, sos.SosAccessLink)
    fire = report("fire", zone=7, room="kök")
    loaded = AlarmRequestSchema().load(link.alarm_request(fire, 31).decode("iso-8859-1"))
    assert (loaded.event_code, loaded.alarm_type, loaded.transmitter_code,
            loaded.transmitter_type, loaded.receiver, loaded.authentication) == (
        "FA", "AL", CODE, TYPE, "42", PASSWORD)
    assert loaded.reference == sos.reference_for(fire, 31)
    assert (loaded.section, loaded.section_text, loaded.detector_text) == ("007", "kök", "FIRE")
    assert "Urgency 1" in loaded.additional_info
    assert loaded.transmitter_time.timestamp() == pytest.approx(fire.raised_at, abs=0.002)
    restore = report("fire", event="resolved", alarm_id=fire.alarm_id)
    assert AlarmRequestSchema().load(
        link.alarm_request(restore, 32).decode("iso-8859-1")).alarm_type == "RE"
    ping = sos.document("pingrequest", link._identity("P1"))
    assert PingRequestSchema().load(ping.decode("iso-8859-1")).transmitter_code == CODE


async def test_console_accepts_what_the_sos_access_package_sends() -> None:
    port = free_port()
    client = SOSAccessClient(CODE, TYPE, PASSWORD, "42", ("127.0.0.1", port),
                             use_single_receiver=True)
    async with console(port) as centre:
        response = await asyncio.to_thread(
            client.send_alarm, event_code="MA", reference="ref-1", section="007",
            section_text="bedroom", detector_text="POSSIBLE FALL",
            additional_info=["line one", "line två"])
        assert (response.status, response.info) == (0, "OK")
        # A retransmission is a duplicate (status 10), not a second alarm; the package
        # raises for it.
        with pytest.raises(DuplicateAlarm):
            await asyncio.to_thread(client.send_alarm, event_code="MA", reference="ref-1")
        restored = await asyncio.to_thread(client.restore_alarm, event_code="MA",
                                           reference="ref-2")
        assert restored.status == 0
        assert (await asyncio.to_thread(client.ping, reference="p1")).status == 0
        new_auth = await asyncio.to_thread(client.request_new_auth, reference="a1")
        assert len(new_auth.new_authentication) == 15
        assert centre.credentials[CODE] == new_auth.new_authentication
    first, duplicate, restore = centre.alarms()
    assert (first.kind, first.event, first.fields["sectiontext"]) == ("possible_fall", "raised",
                                                                      "bedroom")
    assert "line två" in first.fields["additionalinfo"]
    assert duplicate.status == 10
    assert (restore.event, restore.status) == ("resolved", 0)


# -- the forwarder over SOS Access ------------------------------------------------------------


async def test_every_kind_arrives_with_its_event_code_and_alarm_type(
        tmp_path: Path, auth_file: Path) -> None:
    port = free_port()
    cfg = config(sos_receiver("sos", port, auth_file))
    sent = [report(kind, zone=10 + i, room=f"room {i}") for i, kind in enumerate(KINDS)
            if kind != "receiver_unreachable"]
    async with console(port) as centre, ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
        for rep in sent:
            await fwd.submit(rep)
        await fwd.submit(report("fire", event="resolved", alarm_id=sent[0].alarm_id, zone=10))
        assert await fwd.wait_drained(WAIT)
    got = centre.alarms()
    assert sorted((e.kind or "", e.event, e.fields["section"]) for e in got) == sorted(
        [*((r.kind, "raised", f"{r.zone:03d}") for r in sent), ("fire", "resolved", "010")])
    assert all(e.fields["eventcode"] == sos.EVENT_CODES[e.kind or ""] for e in got)
    assert "FIRE ALARM" in got[0].operator_line()


async def test_retransmission_carries_the_same_reference_and_counts_as_delivered(
        tmp_path: Path, auth_file: Path) -> None:
    port = free_port()
    cfg = config(sos_receiver("sos", port, auth_file))
    rep = report("assistance")
    async with console(port) as centre:
        link = open_link(cfg, 0)
        first = await link.send(rep, 5)
        second = await link.send(rep, 5)  # as after a crash between answer and record
    assert (first.verdict, second.verdict) == ("delivered", "delivered")
    assert first.wire_id == second.wire_id
    assert [e.status for e in centre.events] == [0, 10]
    assert link.counters()["duplicates"] == 1


@pytest.mark.parametrize(("status", "info"), [(5, "NOT_TREATED_NOT_DISTRIBUTED"),
                                              (99, "OTHER_ERROR"), (6, "NOT_AUTHORIZED")])
async def test_use_failover_answers_send_the_alarm_over_the_second_path(
        tmp_path: Path, auth_file: Path, status: int, info: str) -> None:
    sos_port, dc09_port = free_port(), free_port()
    cfg = config(sos_receiver("sos", sos_port, auth_file), receiver("dc09", dc09_port))
    delivered: dict[str, str] = {}
    async with console(sos_port, answer=lambda r: (status, info)) as centre, \
            ArcConsole(dc09_port, [(RESIDENT, None), (HUB, None)]) as second, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite", on_delivery=lambda a, e, r, ok, d:
                         delivered.update({a: r}) if ok else None) as fwd:
        await fwd.submit(report("fire", alarm_id="fire-1", zone=3))
        assert await fwd.wait_drained(WAIT)
    assert delivered == {"fire-1": "dc09"}
    assert [e.status for e in centre.events] == [status]
    assert [(e.code, e.zone) for e in second.alarms()] == [("FA", 3)]


async def test_heartbeats_follow_the_service_level(
        tmp_path: Path, auth_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sos.HEARTBEAT_LEVELS, "90s", 0.8)  # four per level: every 0.2 s
    port, spare = free_port(), free_port()
    cfg = config(sos_receiver("sos", port, auth_file, heartbeat="90s"), receiver("dc09", spare))
    async with console(port) as centre, ArcForwarder(cfg, tmp_path / "arc.sqlite"):
        assert await centre.wait_until(lambda ev: len(ev) >= 3, WAIT)
    assert {(e.request, e.status) for e in centre.events} == {("pingrequest", 0)}


def test_short_heartbeat_levels_need_a_second_receiver(auth_file: Path) -> None:
    with pytest.raises(ArcConfigError, match=r"receivers\[0\].heartbeat: '90s' requires a "
                                             "failover receiver"):
        config(sos_receiver("sos", 1, auth_file, heartbeat="90s"))


def test_authentication_file_must_be_private_and_fifteen_characters(auth_file: Path) -> None:
    auth_file.chmod(0o644)
    with pytest.raises(ArcConfigError, match=r"authentication_file: .*readable by others"):
        config(sos_receiver("sos", 1, auth_file))
    auth_file.chmod(0o600)
    auth_file.write_text("short\n")
    with pytest.raises(ArcConfigError, match="not 15 printable characters"):
        config(sos_receiver("sos", 1, auth_file))


async def test_new_authentication_is_stored_privately_and_never_shown(
        tmp_path: Path, auth_file: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    cfg = config(sos_receiver("sos", port, auth_file))
    async with console(port) as centre:
        link = open_link(cfg, 0)
        assert isinstance(link, sos.SosAccessLink)
        result = await link.request_new_authentication()
        new = centre.credentials[CODE]
        previous = auth_file.with_name(auth_file.name + ".previous")
        _stored_privately(previous, PASSWORD)  # until the new one is accepted once
        assert (await link.send(report("test"), 9)).verdict == "delivered"  # the new one works
        assert not previous.exists()
    assert result == "status 0 OK"
    assert new != PASSWORD
    _stored_privately(auth_file, new)
    shown = caplog.text + "".join(capsys.readouterr()) + repr(link.counters())
    shown += "".join(e.operator_line() + repr(e.fields) for e in centre.events)
    assert new not in shown
    assert PASSWORD not in shown


def _stored_privately(path: Path, secret: str) -> None:
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# -- password rotation the centre did not commit, and a kill -9 during it -------------------

def _previous(auth: Path) -> Path:
    return auth.with_name(auth.name + ".previous")


def _shown(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
           link: sos.SosAccessLink, centre: SosAccessConsole) -> str:
    shown = caplog.text + "".join(capsys.readouterr()) + repr(link.counters())
    return shown + "".join(e.operator_line() + repr(e.fields) for e in centre.events)


async def test_a_rotation_the_centre_did_not_commit_falls_back_to_the_previous_password(
        auth_file: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    async with console(port) as centre:
        link = open_link(config(sos_receiver("sos", port, auth_file)), 0)
        assert isinstance(link, sos.SosAccessLink)
        await link.request_new_authentication()
        new = centre.credentials[CODE]
        centre.credentials[CODE] = PASSWORD  # the centre lost the rotation (not committed)
        assert (await link.send(report("fire"), 1)).verdict == "delivered"
        # The refused new password, then the previous one, taken: one alarm at the centre.
        assert [e.status for e in centre.events][-2:] == [sos.NOT_AUTHORIZED, sos.OK]
        assert (await link.link_test(2)).verdict == "delivered"  # no second fallback needed
    _stored_privately(auth_file, PASSWORD)  # the previous one is the current one again
    assert not _previous(auth_file).exists()
    assert link.counters()["auth_fallbacks"] == 1
    assert "did not commit the rotation" in caplog.text
    shown = _shown(caplog, capsys, link, centre)
    assert new not in shown
    assert PASSWORD not in shown


async def test_a_centre_refusing_both_passwords_is_counted_and_both_are_kept(
        auth_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    async with console(port) as centre:
        link = open_link(config(sos_receiver("sos", port, auth_file)), 0)
        assert isinstance(link, sos.SosAccessLink)
        await link.request_new_authentication()
        new = centre.credentials[CODE]
        centre.credentials[CODE] = sos.new_password()  # neither of the hub's
        assert (await link.send(report("fire"), 1)).verdict == "failover"
        tried = len(centre.events)
        assert (await link.send(report("fire"), 2)).verdict == "failover"
        assert len(centre.events) == tried + 1  # the previous one is tried once, not every time
    _stored_privately(auth_file, new)
    _stored_privately(_previous(auth_file), PASSWORD)
    assert link.counters()["auth_fallbacks_refused"] == 1
    assert "refuses both the password from the last rotation and the previous one" in caplog.text


async def test_a_second_rotation_waits_until_the_first_is_accepted(auth_file: Path) -> None:
    port = free_port()
    async with console(port) as centre:
        link = open_link(config(sos_receiver("sos", port, auth_file)), 0)
        assert isinstance(link, sos.SosAccessLink)
        await link.request_new_authentication()
        first = centre.credentials[CODE]
        with pytest.raises(sos.SosAccessError, match="not accepted the password from the last"):
            await link.request_new_authentication()
        assert centre.credentials[CODE] == first
        assert (await link.link_test(1)).verdict == "delivered"  # accepted: confirmed
        await link.request_new_authentication()
    _stored_privately(_previous(auth_file), first)


ROTATE = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from support.arc import config
from trygg.hub.arc.forwarder import open_link
asyncio.run(open_link(config({receiver!r}), 0).request_new_authentication())
"""


async def test_kill_9_during_rotation_leaves_whole_passwords_and_a_working_link(
        auth_file: Path) -> None:
    """The hub rotating in its own process, killed (SIGKILL) the instant the receiver's answer
    with the new password has arrived, before it is written: each file holds a whole password
    (never empty, never half), the old one is kept, and a receiver that took the old one back
    (the answer never reached the hub) gets alarms again. A receiver that committed the new
    one refuses both: that instant's loss is told to the technician (hub/arc/README.md)."""
    port = free_port()
    receiver_table = sos_receiver("sos", port, auth_file)
    script = ROTATE.format(tests=str(Path(__file__).parent.parent), receiver=receiver_table)
    async with console(port) as centre:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, env={**os.environ,
                                                "TRYGG_CRASH_AT": "sos.rotation_answered"})
        async with asyncio.timeout(WAIT * 3):
            assert await proc.wait() == -signal.SIGKILL
        assert centre.credentials[CODE] != PASSWORD  # the centre gave the new one
        _stored_privately(auth_file, PASSWORD)
        _stored_privately(_previous(auth_file), PASSWORD)
        assert not auth_file.with_name(auth_file.name + ".tmp").exists()
        centre.credentials[CODE] = PASSWORD  # the centre rolled the unacknowledged one back
        link = open_link(config(receiver_table), 0)
        assert (await link.send(report("fire"), 1)).verdict == "delivered"
    assert not _previous(auth_file).exists()
    # Killed after the write instead: the new password is whole in the file, the old beside it.
    async with console(port) as centre:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script + "import os, signal\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
        async with asyncio.timeout(WAIT * 3):
            assert await proc.wait() == -signal.SIGKILL
        _stored_privately(auth_file, centre.credentials[CODE])
        _stored_privately(_previous(auth_file), PASSWORD)
        assert (await open_link(config(receiver_table), 0).send(report("fire"), 2)
                ).verdict == "delivered"


# -- hostile peers ----------------------------------------------------------------------------

HOSTILE = [
    b"\x00\xff\xfe garbage \r\n",
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;">]>'
    b"<alarmrequest><eventcode>&y;</eventcode></alarmrequest>",
    b'<?xml version="1.0" encoding="ISO-8859-1"?><alarmrequest>' + b"<a>" * 50,
    b'<?xml version="1.0" encoding="ISO-8859-1"?><alarmrequest><eventcode>'
    + b"x" * 120_000,
    b"<alarmrequest><authentication>hxp4x9nnwxjatv8</authentication></alarmrequest>",
    b'<?xml version="1.0" encoding="ISO-8859-1"?><pingrequest><authentication>wrongwrongwrong'
    b"</authentication><transmittercode>1234567</transmittercode><transmittertype>TRYGG"
    b"</transmittertype></pingrequest>",
    b'<?xml version="1.0" encoding="ISO-8859-1"?><alarmrequest><eventcode>FA</eventcode>'
    b"<eventcode>FA</eventcode></alarmrequest>",
    b'<?xml version="1.0" encoding="ISO-8859-1"?><other/>',
    b'<?xml version="1.0" encoding="ISO-8859-1"?><alarmrequest>',  # then the client leaves
]


async def test_hostile_input_never_crashes_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sos_access_console, "READ_TIMEOUT_S", 0.3)
    port = free_port()
    answers: list[bytes] = []
    async with console(port) as centre:
        for data in [*HOSTILE, b'<?xml version="1.0"?><alarmrequest>']:  # last: too slow
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            if data is not HOSTILE[-1] and not data.endswith(b"<alarmrequest>"):
                writer.write_eof()
            async with asyncio.timeout(WAIT):
                answers.append(await reader.read())
            writer.close()
        client = SOSAccessClient(CODE, TYPE, PASSWORD, "42", ("127.0.0.1", port),
                                 use_single_receiver=True)
        good = await asyncio.to_thread(client.send_alarm, event_code="FA", reference="after")
    assert good.status == 0, "the console still serves a good client"
    statuses = [sos.parse(a).fields["status"] if a else None for a in answers]
    assert statuses[:8] == ["2", "2", "2", "1", "100", "4", "3", "2"]
    assert statuses[-1] is None  # a stalled sender is dropped, unanswered
    assert sum(centre.rejected.values()) >= len(HOSTILE)


async def _centre_saying(port: int, data: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(data)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


@pytest.mark.parametrize("answer", [
    b"\x00garbage",
    sos.document("pingresponse", {"status": "0", "info": "OK"}),  # the wrong answer
    sos.document("alarmresponse", {"reference": "T999-000000000000", "status": "0",
                                   "info": "OK"}),  # for another request
    b"",  # closes without a word
], ids=["garbage", "wrong-root", "wrong-reference", "closed"])
async def test_hostile_centre_answers_are_not_taken_for_delivery(
        tmp_path: Path, auth_file: Path, answer: bytes) -> None:
    port = free_port()
    cfg = config(sos_receiver("sos", port, auth_file), ack_timeout=0.5)
    server = await _centre_saying(port, answer)
    try:
        outcome = await open_link(cfg, 0).send(report("fire"), 1)
    finally:
        server.close()
    assert outcome.verdict == "unreachable", outcome


def test_console_names_kinds_sharing_an_event_code_by_detector_text() -> None:
    def request(title: str) -> SosRequest:
        return SosRequest(0.0, "alarmrequest", CODE, TYPE, "r", {
            "eventcode": "MA", "detectortext": title, "alarmtype": "AL", "section": "001"}, 0,
            "OK")
    assert request("FALL DETECTED").kind == "device_fall"
    assert request("POSSIBLE FALL").kind == "possible_fall"
