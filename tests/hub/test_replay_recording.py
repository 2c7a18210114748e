"""The recording format (hub/replay/README.md): hostile input is refused with file:line and what
is wrong; what is written reads back the same; ``--set`` is validated like the config file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trygg.hub.config import ConfigError
from trygg.hub.replay import recording
from trygg.hub.replay.recording import Observation, RecordingError

START = 1736290800.0  # 2025-01-08 00:00 Europe/Oslo
END = START + 86400
TOML = '[hub]\nid = "home-1"\n\n[[residents]]\nid = "r1"\narc_account = "1234"\n'
HEADER: dict[str, Any] = {"format": "trygg-recording", "version": 1, "start": START,
                          "end": END, "hub_toml": TOML}
HALL = {"type": "device", "id": "a00000000001", "role": "motion", "room": "hall",
        "resident": "r1", "input": "observations", "firmware": {"door_contact": True}}
BED = {"type": "device", "id": "b00000000001", "role": "bed", "room": "bedroom",
       "resident": "r1", "input": "events", "zone": 4}
PIR = {"type": "obs", "t": START + 60, "device": "a00000000001", "sensor": "pir"}
BED_OUT = {"type": "msg", "t": START + 70, "device": "b00000000001", "seq": 3,
           "msg": {"type": "event", "event": "bed_out", "uptime": 70}}


def write(tmp_path: Path, *lines: Any) -> Path:
    path = tmp_path / "home.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                            for x in lines))
    return path


def test_a_valid_recording_reads_with_devices_observations_messages_and_hub_events(
        tmp_path: Path) -> None:
    away = {"type": "hub", "t": START + 80, "event": "away_on", "resident": "r1"}
    rec = recording.load(write(tmp_path, HEADER, HALL, BED, PIR, BED_OUT, away,
                               {**PIR, "sensor": "door", "value": True}))
    assert [d.device_id for d in rec.devices] == ["a00000000001", "b00000000001"]
    assert rec.device("b00000000001").zone == 4
    assert rec.observations == [Observation(START + 60, "a00000000001", "pir"),
                                Observation(START + 60, "a00000000001", "door", True)]
    assert rec.messages[0].seq == 3
    assert rec.messages[0].msg["event"] == "bed_out"
    assert rec.hub_events[0].event == "away_on"
    assert rec.config().residents[0].id == "r1"


def test_written_recording_reads_back_the_same(tmp_path: Path) -> None:
    rec = recording.load(write(tmp_path, HEADER, HALL, BED, PIR, BED_OUT))
    again = tmp_path / "again.jsonl"
    recording.save(rec, again)
    back = recording.load(again)
    assert (back.devices, back.observations, back.messages, back.hub_toml) == (
        rec.devices, rec.observations, rec.messages, rec.hub_toml)


BAD: list[tuple[str, list[Any], int, str]] = [
    ("not json", [HEADER, "{nope"], 2, "not a JSON object"),
    ("not an object", [HEADER, "[1, 2]"], 2, "must be a JSON object"),
    ("not a recording", [{"format": "csv"}], 1, "not a recording"),
    ("newer version", [{**HEADER, "version": 2}], 1, "this hub reads version 1"),
    ("end before start", [{**HEADER, "end": START - 1}], 1, "end must be after start"),
    ("no configuration", [{k: v for k, v in HEADER.items() if k != "hub_toml"}], 1,
     "hub_toml"),
    ("bad configuration", [{**HEADER, "hub_toml": TOML.replace('"1234"', '"xyz!"')}], 1,
     "arc_account"),
    ("unknown key", [HEADER, {**HALL, "colour": "red"}], 2, "unknown key 'colour'"),
    ("duplicate key", [HEADER, '{"type": "device", "type": "obs"}'], 2, "appears twice"),
    ("NaN time", [HEADER, HALL, json.dumps(PIR).replace(str(START + 60), "NaN")], 3,
     "not a number JSON allows"),
    ("bad device id", [HEADER, {**HALL, "id": "A0000000000Z"}], 2, "12 lowercase hex"),
    ("device twice", [HEADER, HALL, HALL], 3, "declared twice"),
    ("unknown role", [HEADER, {**HALL, "role": "toaster"}], 2, "role 'toaster'"),
    ("unknown resident", [HEADER, {**HALL, "resident": "r2"}], 2, "not in hub_toml"),
    ("zone used twice", [HEADER, {**HALL, "zone": 4}, BED], 3, "zone 4 is used"),
    ("bad firmware setting", [HEADER, {**HALL, "firmware": {"motion_holdoff_s": -1}}], 2,
     "firmware.motion_holdoff_s"),
    ("undeclared device", [HEADER, PIR], 2, "not declared above"),
    ("time outside", [HEADER, HALL, {**PIR, "t": END + 1}], 3, "'t'"),
    ("boolean time", [HEADER, HALL, {**PIR, "t": True}], 3, "'t'"),
    ("sensor of another role", [HEADER, HALL, {**PIR, "sensor": "bed", "value": True}], 3,
     "a motion device has"),
    ("door without contact", [HEADER, {**HALL, "firmware": {}},
                              {**PIR, "sensor": "door", "value": True}], 3, "door_contact"),
    ("edge without value", [HEADER, HALL, {**PIR, "sensor": "door"}], 3, "needs true or false"),
    ("observation for a sending device", [HEADER, BED, {**PIR, "device": "b00000000001"}], 3,
     "has input 'events'"),
    ("message off schema", [HEADER, BED, {**BED_OUT, "msg": {"type": "event", "uptime": 1,
                                                             "event": "explode"}}], 3,
     "msg: "),
    ("downlink message", [HEADER, BED, {**BED_OUT, "msg": {"type": "ack", "ranges": [[1, 1]]}}],
     3, "msg.type 'ack'"),
    ("seq twice", [HEADER, BED, BED_OUT, BED_OUT], 4, "seq 3 appears twice"),
    ("seq on some only", [HEADER, BED, BED_OUT, {k: v for k, v in BED_OUT.items()
                                                 if k != "seq"}], 4, "a seq or none"),
    ("unknown hub event", [HEADER, {"type": "hub", "t": START, "event": "reboot"}], 2,
     "hub event 'reboot'"),
    ("unknown record type", [HEADER, {"type": "comment"}], 2, "type 'comment'"),
    ("overlong line", [HEADER, json.dumps(PIR) + " " * recording.MAX_RECORD_BYTES], 2,
     "bytes"),
]


@pytest.mark.parametrize(("lines", "line", "why"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_hostile_recording_is_refused_naming_file_line_and_what(
        tmp_path: Path, lines: list[Any], line: int, why: str) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(RecordingError) as err:
        recording.load(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert why in str(err.value)


def test_bytes_that_are_not_utf8_or_an_empty_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(json.dumps(HEADER).encode() + b"\n\xff\xfe\n")
    with pytest.raises(RecordingError, match=r"x\.jsonl:2: not UTF-8"):
        recording.load(path)
    path.write_bytes(b"")
    with pytest.raises(RecordingError, match=r"x\.jsonl:1: empty file"):
        recording.load(path)
    with pytest.raises(RecordingError, match="cannot read"):
        recording.load(tmp_path / "missing.jsonl")


def test_hub_toml_may_be_a_file_beside_the_recording(tmp_path: Path) -> None:
    (tmp_path / "home.toml").write_text(TOML)
    header = {k: v for k, v in HEADER.items() if k != "hub_toml"}
    rec = recording.load(write(tmp_path, {**header, "hub_toml_file": "home.toml"}, HALL))
    assert rec.config().hub_id == "home-1"


def test_settings_lay_over_the_homes_configuration_and_name_the_bad_key() -> None:
    cfg = recording.home_config(TOML, "t", ["thresholds.still_ceiling_min=150",
                                            "latest_rise=11:00", "hub.tick_s=5"])
    r = cfg.residents[0]
    assert (r.thresholds.still_ceiling_min, r.latest_rise.hour, cfg.tick_s) == (150, 11, 5.0)
    assert recording.home_config(TOML, "t", ["r1.bathroom_rooms=[\"wc\"]"]).residents[
        0].bathroom_rooms == ("wc",)
    with pytest.raises(ConfigError, match=r"residents\[0\]\.thresholds\.still_ceilng_min: "
                                          "unknown key"):
        recording.home_config(TOML, "t", ["thresholds.still_ceilng_min=2"])
    with pytest.raises(ConfigError, match=r"--set thresholds\.still_ceiling_min=99999: .*"
                                          r"out of range"):
        recording.home_config(TOML, "t", ["thresholds.still_ceiling_min=99999"])
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        recording.home_config(TOML, "t", ["still_ceiling_min"])
