"""SIA DC-09 framing, configuration and report validation (no network)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from support import mpy
from support.arc import KEY_128, report
from trygg.hub.arc import ArcConfigError, load_arc_config
from trygg.hub.arc import report as report_module
from trygg.hub.arc.codes import CODES, operator_table_markdown
from trygg.hub.arc.dc09 import (
    Address,
    Dc09Error,
    FrameReader,
    clean_text,
    crc16,
    encode_message,
    next_sequence,
    parse_frame,
    sia_dcs_data,
)

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def test_crc_is_crc16_arc_check_value() -> None:
    # The catalogue check value of CRC-16/ARC (poly 0x8005 reflected, init 0) over "123456789".
    assert crc16(b"123456789") == 0xBB3D


def test_plain_frame_layout_crc_and_length() -> None:
    raw = encode_message("SIA-DCS", 42, Address("1234", "0", "12"),
                         sia_dcs_data("1234", "FA", 15, 1), [("R", "kitchen")], timestamp=T0)
    body = b'"SIA-DCS"0042R12L0#1234[#1234|Nri1/FA015][Rkitchen]_22:13:20,11-14-2023'
    assert raw == b"\n%04X%04X" % (crc16(body), len(body)) + body + b"\r"
    frame = parse_frame(raw)
    assert (frame.token, frame.seq, frame.receiver, frame.line, frame.account) == (
        "SIA-DCS", 42, "12", "0", "1234")
    assert frame.data == "#1234|Nri1/FA015"
    assert frame.extended == ("Rkitchen",)
    assert frame.timestamp == T0


def test_encrypted_region_is_padded_to_blocks_and_decrypts_with_plain_aes() -> None:
    raw = encode_message("SIA-DCS", 7, Address("1234"), sia_dcs_data("1234", "MA", 3, 1),
                         timestamp=T0, key=KEY_128)
    text = raw[9:-1].decode()
    assert text.startswith('"*SIA-DCS"0007L0#1234[')
    hex_region = text.split("[", 1)[1]
    assert re.fullmatch(r"[0-9A-F]+", hex_region)
    region = bytes.fromhex(hex_region)
    assert len(region) % 16 == 0
    decryptor = Cipher(algorithms.AES(KEY_128), modes.CBC(bytes(16))).decryptor()
    plain = decryptor.update(region) + decryptor.finalize()
    pad, rest = plain.split(b"|", 1)
    assert 1 <= len(pad) <= 16
    assert not set(pad) & set(b"|[]")
    assert rest == b"#1234|Nri1/MA003]_22:13:20,11-14-2023"
    assert parse_frame(raw, KEY_128).data == "#1234|Nri1/MA003"


def test_sequence_numbers_run_0001_to_9999_and_wrap() -> None:
    assert next_sequence(1) == 2
    assert next_sequence(9999) == 1
    with pytest.raises(Dc09Error):
        encode_message("NULL", 0, Address("1234"), "", timestamp=T0)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\n0000000F\"ACK\"0001L0#1234[]\r", "length"),
    (b"\nFFFF0014\"ACK\"0001R1L0#1234[]\r", "crc"),
    (b"garbage without framing\r", "format"),
    (b"\n" + b"Z" * 30 + b"\r", "format"),
])
def test_malformed_frames_raise_dc09_error(raw: bytes, reason: str) -> None:
    with pytest.raises(Dc09Error) as info:
        parse_frame(raw)
    assert info.value.reason == reason


def test_frame_reader_splits_stream_and_bounds_garbage() -> None:
    good = encode_message("NULL", 1, Address("1234"), "", timestamp=T0)
    reader = FrameReader(max_frame=200)
    assert reader.feed(b"noise" + good[:10]) == []
    assert reader.feed(good[10:] + good) == [good, good]
    assert reader.feed(b"\n" + b"x" * 1000) == []  # an endless frame costs bounded memory
    assert len(reader._buf) <= 200
    assert reader.feed(good) == [good]
    assert reader.discarded >= 1000


def test_clean_text_keeps_frames_intact() -> None:
    assert clean_text("kök [1]|\"x\"\n", 20) == "kok 1x"
    assert clean_text("Ærø", 10) == "AEro"
    assert len(clean_text("x" * 100, 32)) == 32


def _arc(**over: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"account": "1234", "receivers": [
        {"name": "primary", "host": "127.0.0.1", "port": 9000}]}
    table.update(over)
    return table


@pytest.mark.parametrize(("table", "message"), [
    (_arc(account="xyz"), "[arc].account"),
    (_arc(receivers=[]), "[arc].receivers"),
    (_arc(ack_timeout=0), "[arc].ack_timeout"),
    (_arc(ack_timout=3), "unknown key 'ack_timout'"),
    (_arc(receivers=[{"name": "p", "host": "h", "port": 70000}]), "[arc].receivers[0].port"),
    (_arc(receivers=[{"name": "p", "host": "h", "port": 1, "key": "00" * 20}]),
     "[arc].receivers[0].key: 20 bytes"),
    (_arc(receivers=[{"name": "p", "host": "h", "port": 1, "format": "XML"}]),
     "[arc].receivers[0].format"),
    (_arc(receivers=[{"name": "p", "host": "h", "port": 1},
                     {"name": "p", "host": "h", "port": 2}]), "[arc].receivers[1].name"),
    (_arc(retry_backoff_initial=10, retry_backoff_max=1), "[arc].retry_backoff_max"),
])
def test_config_errors_name_the_bad_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ArcConfigError) as info:
        load_arc_config(table)
    assert message in str(info.value)


def test_config_defaults() -> None:
    cfg = load_arc_config(_arc())
    assert (cfg.receivers[0].protocol, cfg.receivers[0].transport) == ("dc09", "tcp")
    assert cfg.receivers[0].format == "SIA-DCS"
    assert cfg.ack_timeout == 10.0
    assert cfg.supervision_interval == 60.0


@pytest.mark.parametrize(("field", "value"), [
    ("kind", "flood"), ("event", "maybe"), ("priority", 0), ("zone", 1000),
    ("account", "12"), ("raised_at", float("nan")), ("alarm_id", ""),
])
def test_report_rejects_bad_fields_naming_them(field: str, value: Any) -> None:
    good = report("fire")
    fields = {**good.__dict__, field: value}
    with pytest.raises(ValueError, match=f"AlarmReport.{field}"):
        type(good)(**fields)


def test_operator_table_covers_every_kind_and_is_in_the_readme() -> None:
    assert set(report_module.KINDS) | set(report_module.FORWARDER_KINDS) == set(CODES)
    readme = (mpy.REPO_ROOT / "hub" / "arc" / "README.md").read_text()
    assert operator_table_markdown() in readme, (
        "hub/arc/README.md operator table is out of date: paste trygg.hub.arc.codes."
        "operator_table_markdown() into the 'Alarm receiving centre' section")
