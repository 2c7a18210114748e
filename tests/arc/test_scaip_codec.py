"""The SCAIP codec (hub/arc/scaip.py): requests built as receivers expect them, responses and
requests read leniently, hostile XML refused with a clear error, answers judged."""

from __future__ import annotations

import pytest

from support.arc import report
from trygg.hub.arc import scaip
from trygg.hub.arc.scaip import Mrq, Mrs, ScaipError
from trygg.hub.rules.alarm_kinds import KINDS


def test_request_has_full_width_codes_and_no_xml_declaration() -> None:
    mrq = scaip.mrq_for_report(report("fire", zone=4, room="kitchen"), ref="17",
                               cid="4670001")
    body = scaip.encode_mrq(mrq)
    assert body.startswith(b"<mrq><ref>17</ref>")
    assert b"<?xml" not in body
    for element in (b"<dty>0023</dty>", b"<stc>0009</stc>", b"<lco>004</lco>",
                    b"<dco>004</dco>", b"<cid>4670001</cid>", b"<crd>no-voice:</crd>",
                    b"<lte>kitchen</lte>", b"<pri>1</pri>"):
        assert element in body
    assert b"<mty>" not in body  # ME is the default


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_round_trips_through_the_console_parser(kind: str) -> None:
    for event in (("test",) if kind == "test" else ("raised", "resolved")):
        mrq = scaip.mrq_for_report(report(kind, event=event), ref="A1b2", cid="46",
                                   crd=("gsm:+46701234567",))
        assert scaip.parse_mrq(scaip.encode_mrq(mrq)) == mrq


def test_resolved_is_restoral_and_tests_name_their_path() -> None:
    assert scaip.stc_for(report("fire", event="resolved")) == scaip.STC_RESTORAL
    assert scaip.stc_for(report("receiver_unreachable", event="resolved")) == 112
    assert scaip.stc_for(report("test")) == scaip.STC_TEST_PRIMARY
    assert scaip.stc_for(report("test"), redundant_path=True) == scaip.STC_TEST_REDUNDANT


def test_heartbeat_and_reset_keep_identity() -> None:
    ping = scaip.heartbeat_mrq(ref="9", cid="46")
    assert b"<mty>PI</mty>" in scaip.encode_mrq(ping)
    mrq = scaip.mrq_for_report(report("assistance"), ref="31", cid="46")
    reset = scaip.reset_mrq(mrq)
    assert (reset.ref, reset.mty, reset.cid) == ("31", "RE", "46")


@pytest.mark.parametrize("body", [
    b"<mrs><ref>17</ref><snu>4</snu></mrs>",
    b"<mrs><ref>17</ref><snu>04</snu></mrs>",
    b"<mrs><ref>17</ref><snu>0004</snu></mrs>",
    b'<?xml version="1.0" encoding="UTF-8"?>\n<mrs>\n  <ref> 17 </ref>\n  <snu> 4 </snu>\n</mrs>',
    b'<mrs xmlns="urn:example:scaip"><ref>17</ref><snu>4</snu></mrs>',
    b'<s:mrs xmlns:s="urn:x"><s:REF>17</s:REF><s:snu>4</s:snu><x>extra</x></s:mrs>',
])
def test_response_is_read_leniently(body: bytes) -> None:
    mrs = scaip.parse_mrs(body)
    assert (mrs.ref, mrs.snu) == ("17", 4)


def test_response_carries_heartbeat_interval_and_voice_fields() -> None:
    mrs = scaip.parse_mrs(b"<mrs><ref>1</ref><snu>0</snu><hbi>015</hbi><tnu>+4610</tnu></mrs>")
    assert (mrs.hbi, mrs.tnu) == (15, "+4610")
    assert scaip.parse_mrs(scaip.encode_mrs(Mrs("abc", 6, hbi=5))) == Mrs("abc", 6, hbi=5)


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty body"),
    (b"<mrs><ref>1</ref>", "not well-formed"),
    (b"<mrq><ref>1</ref><snu>0</snu></mrq>", "the document is <mrq>"),
    (b"<mrs><snu>0</snu></mrs>", "<ref> is missing"),
    (b"<mrs><ref>1</ref></mrs>", "<snu> is missing"),
    (b"<mrs><ref>1</ref><snu>ok</snu></mrs>", "not a number"),
    (b"<mrs><ref>1</ref><snu>-1</snu></mrs>", "not a number"),
    (b"<mrs><ref>1</ref><snu>0</snu><snu>4</snu></mrs>", "appears 2 times"),
    (b"<mrs><ref>has space</ref><snu>0</snu></mrs>", "letters and digits"),
    (b"<mrs><ref>1</ref><snu><b>0</b></snu></mrs>", "child elements"),
    (b"<mrs><ref>1</ref><snu>0</snu><hbi>99999</hbi></mrs>", "(0..1440)"),
    (b'<!DOCTYPE mrs [<!ENTITY x "4">]><mrs><ref>1</ref><snu>&x;</snu></mrs>', "refused"),
    (b'<!DOCTYPE mrs SYSTEM "http://127.0.0.1:9/x.dtd"><mrs/>', "refused"),
    (b"<mrs>" + b"<x>a</x>" * 2000 + b"</mrs>", "bytes, at most 8192"),
    (b"\xff\xfe<\x00m\x00", "not well-formed"),
])
def test_hostile_response_is_refused_with_what_and_why(body: bytes, says: str) -> None:
    with pytest.raises(ScaipError, match="<mrs>") as raised:
        scaip.parse_mrs(body)
    assert says in str(raised.value)


def test_billion_laughs_is_refused_before_expansion() -> None:
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i else b"&lol;")
                                                * 10) for i in range(1, 9))
           + b']><mrs><ref>1</ref><snu>&lol8;</snu></mrs>')
    with pytest.raises(ScaipError, match="refused"):
        scaip.parse_mrs(lol)


@pytest.mark.parametrize(("snu", "verdict"), [
    (0, scaip.ACCEPTED), (4, scaip.HOLD), (5, scaip.NEXT_PATH), (6, scaip.BUSY),
    (1, scaip.NEXT_PATH), (2, scaip.NEXT_PATH), (3, scaip.NEXT_PATH), (7, scaip.NEXT_PATH),
    (10, scaip.NEXT_PATH), (99, scaip.NEXT_PATH), (42, scaip.NEXT_PATH),
])
def test_only_snu_0_is_acceptance(snu: int, verdict: str) -> None:
    assert scaip.judge(Mrs("1", snu)).verdict == verdict


@pytest.mark.parametrize(("field", "value", "says"), [
    ("ref", "", "mrq.ref"), ("ref", "x" * 17, "mrq.ref"), ("ref", "a-b", "mrq.ref"),
    ("cid", "12ab", "mrq.cid"), ("mty", "XX", "mrq.mty"), ("dty", 10000, "mrq.dty"),
    ("pri", 10, "mrq.pri"), ("crd", ("tel:123",), "mrq.crd"), ("stt", "x" * 201, "mrq.stt"),
])
def test_request_fields_are_checked(field: str, value: object, says: str) -> None:
    fields: dict[str, object] = {"ref": "1", "cid": "46", "dty": 2, field: value}
    with pytest.raises(ScaipError, match=says):
        Mrq(**fields)  # type: ignore[arg-type]


def test_the_code_table_covers_every_kind_and_says_what_is_unchecked() -> None:
    assert set(scaip.SCAIP_CODES) == set(KINDS)
    unchecked = {k for k, row in scaip.SCAIP_CODES.items() if not row.verified}
    assert unchecked == {"dispenser_problem", "device_silent", "smoke_fault", "rejected_frames",
                         "sensors_unreachable"}
    table = scaip.code_table_markdown()
    assert "| `fire` | 0023 smoke detector | 0009 alarm, automatic | 0094 restoral | yes" in table
