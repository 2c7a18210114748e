"""``trygg hub export`` then ``trygg hub replay``: the hub's store becomes a recording of what
its devices sent, which replays to the alarms the rules decide; ``--set`` changes the answer;
bad input gets a clear error and exit code 2; the live store is never written."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from trygg.hub import config as hub_config
from trygg.hub.replay import recording
from trygg.hub.rules.model import HUB_AWAY_OFF, HUB_AWAY_ON
from trygg.hub.store import NewFrame, Store
from trygg.tools.cli import main as cli

BATH, BED = "a00000000002", "b00000000001"
SINCE = "44h"  # the story begins 9 h before its 07:30, which is at most 34 h ago


def make_hub(tmp_path: Path) -> tuple[Path, float]:
    """A hub configuration and store with two devices: a night in bed, a bathroom visit at
    07:30 and stillness after it, an away period by command. Returns (config, 07:30)."""
    cfg = tmp_path / "hub.toml"
    cfg.write_text('[hub]\nid = "hub-x"\ndatabase = "hub.db"\n\n[[residents]]\nid = "r1"\n'
                   'arc_account = "1234"\ntimezone = "Europe/Oslo"\nlatest_rise = "09:30"\n'
                   '[residents.thresholds]\nstill_ceiling_min = 180\n')
    # 07:30 in Oslo, the latest that leaves the ten hours below before the wall clock (the
    # export reads the store up to now): the rules' limits depend on the time of day, so the
    # story must not drift with the hour the test runs at.
    oslo = ZoneInfo("Europe/Oslo")
    latest = datetime.fromtimestamp(time.time() - 10 * 3600, oslo)
    at = latest.replace(hour=7, minute=30, second=0, microsecond=0)
    if at > latest:
        at -= timedelta(days=1)
    morning = at.timestamp()
    now = morning + 10 * 3600
    store = Store(tmp_path / "hub.db")
    store.add_device(BATH, bytes(32), "motion", "bathroom", "r1", zone=3, now=now - 86400)
    store.add_device(BED, bytes(range(32)), "bed", "bedroom", "r1", zone=4, now=now - 86400)
    store.add_device("c00000000001", bytes(32), "smoke", None, "r1", zone=5, now=now - 86400)
    frames = []

    def ev(t: float, device: str, seq: int, name: str, value: int | None = None) -> None:
        msg = {"type": "event", "event": name, "uptime": int(t - now + 90000), "time": int(t)}
        if value is not None:
            msg["value"] = value
        frames.append(NewFrame(device, seq, t, msg))

    ev(morning - 8 * 3600, BED, 0, "bed_in")
    ev(morning - 60, BED, 1, "bed_out")
    ev(morning, BATH, 0, "motion", 3)
    for i, t in enumerate(range(int(morning - 9 * 3600), int(now), 300)):
        frames.append(NewFrame(BATH, 100 + i, float(t), {
            "type": "heartbeat", "uptime": 10 + i, "battery_mv": 0, "rssi": -50,
            "free_heap": 1000, "outbox": 0, "rejected": 0, "triggers": 0}))
    frames.sort(key=lambda f: f.received_at)
    store.store_frames(frames, {}, {BATH: "r1", BED: "r1"})
    store.add_hub_event(HUB_AWAY_ON, morning + 6 * 3600, "r1")
    store.add_hub_event(HUB_AWAY_OFF, morning + 7 * 3600, "r1")
    store.add_hub_event("resolve_alarm", morning + 7 * 3600, "r1", detail={"alarm_id": "x"})
    store.close()
    return cfg, morning


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_replay_gives_the_alarms_with_causes_and_never_touches_the_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, morning = make_hub(tmp_path)
    db = tmp_path / "hub.db"
    before = db.read_bytes()
    out_file = tmp_path / "home.jsonl"
    code, _, err = run(capsys, "hub", "export", "--config", str(cfg), "--since", SINCE,
                       "-o", str(out_file))
    assert code == 0, err
    rec = recording.load(out_file)
    assert sorted(d.device_id for d in rec.devices) == [BATH, BED, "c00000000001"]
    assert all(d.input == "events" for d in rec.devices)
    assert rec.device(BED).zone == 4
    with Store(db) as store:
        stored = [(e.device_id, e.seq, e.received_at, e.body) for e in store.events()
                  if e.device_id is not None]
    assert [(m.device_id, m.seq, m.t, m.msg) for m in rec.messages] == stored
    assert [h.event for h in rec.hub_events] == [HUB_AWAY_ON, HUB_AWAY_OFF]
    assert rec.about["skipped"] == {"hub:resolve_alarm": 1}
    assert "hub.db" not in rec.hub_toml
    assert "[arc]" not in rec.hub_toml
    exported = rec.config().residents[0]
    assert exported == hub_config.load(cfg).residents[0]  # every setting travels

    code, out, err = run(capsys, "hub", "replay", str(out_file), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "trygg-replay"
    assert doc["version"] == 1
    fall = next(a for a in doc["alarms"] if a["kind"] == "possible_fall")
    # Bathroom motion at 07:30, then nothing: 40 min later, at the first tick after it.
    assert 40 * 60 <= fall["raised_at"] - morning < 40 * 60 + 15
    assert [(c["event"], c["room"], c["value"]) for c in fall["causes"]] == [
        ("motion", "bathroom", 3)]
    assert fall["state"] == "acknowledged"
    assert fall["resolved_at"] is None
    code, text, _ = run(capsys, "hub", "replay", str(out_file))
    assert code == 0
    assert "possible_fall (priority 2) in bathroom" in text
    assert "cause: motion 3 at" in text
    assert db.read_bytes() == before  # the live hub's store is untouched

    code, out, err = run(capsys, "hub", "replay", str(out_file), "--json", "--set",
                         "thresholds.bathroom_no_motion_min=90")
    later = next(a for a in json.loads(out)["alarms"] if a["kind"] == "possible_fall")
    assert 90 * 60 <= later["raised_at"] - morning < 90 * 60 + 15
    assert json.loads(out)["settings"] == ["thresholds.bathroom_no_motion_min=90"]


def test_replay_errors_name_the_file_line_or_setting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = make_hub(tmp_path)
    path = tmp_path / "home.jsonl"
    assert run(capsys, "hub", "export", "--config", str(cfg), "-o", str(path))[0] == 0
    code, _, err = run(capsys, "hub", "replay", str(path), "--set",
                       "thresholds.bathroom_no_motion_min=1")
    assert code == 2
    assert "thresholds.bathroom_no_motion_min: 1.0 out of range" in err
    lines = path.read_text().splitlines()
    lines.insert(3, '{"type": "obs"')
    path.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "hub", "replay", str(path))
    assert code == 2
    assert f"{path}:4: not a JSON object" in err
    code, _, err = run(capsys, "hub", "export", "--config", str(cfg), "--since", "yesterday")
    assert code == 2
    assert "--since 'yesterday'" in err
