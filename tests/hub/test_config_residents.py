"""The resident part of the hub's TOML: wrapping windows, learned-bound limits, retired keys.

Every error names the file, the dotted key and what to do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trygg.hub import config as hub_config

HEAD = '[hub]\nid = "h"\ndatabase = "d"\n[[residents]]\nid = "r"\narc_account = "1234"\n'


def _load(tmp_path: Path, text: str) -> hub_config.HubConfig:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return hub_config.load(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(hub_config.ConfigError) as err:
        _load(tmp_path, text)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "hub.toml") + ": ")
    return message


def test_night_and_bedtime_may_wrap_midnight(tmp_path: Path) -> None:
    cfg = _load(tmp_path, HEAD + 'night_start = "23:30"\nnight_end = "09:00"\n'
                'latest_bedtime = "23:30"\nlatest_bedtime_max = "02:00"\n')
    r = cfg.residents[0]
    assert (r.night_start, r.night_end) == (dt.time(23, 30), dt.time(9, 0))
    assert (r.latest_bedtime, r.latest_bedtime_max) == (dt.time(23, 30), dt.time(2, 0))


@pytest.mark.parametrize(("text", "expected"), [
    ('night_start = "22:00"\nnight_end = "22:00"\n',
     "residents[0].night_end: equals night_start"),
    ('latest_rise = "11:00"\nlatest_rise_max = "10:00"\n',
     "residents[0].latest_rise_max: 10:00 is before latest_rise (11:00): set it later"),
    ('latest_bedtime = "01:00"\nlatest_bedtime_max = "23:00"\n',
     "residents[0].latest_bedtime_max: 23:00 is before latest_bedtime (01:00)"),
    ('[residents.thresholds]\nstill_floor_min = 60\nstill_ceiling_min = 30\n',
     "residents[0].thresholds.still_ceiling_min: 30 is below still_floor_min (60)"),
    ('[residents.thresholds]\nlearn_margin = 0.5\n',
     "residents[0].thresholds.learn_margin: 0.5 out of range 1..5"),
    ('[residents.thresholds]\nlearn_min_days = 2.5\n',
     "residents[0].thresholds.learn_min_days: must be an integer"),
    ('[residents.thresholds]\ncheck_default_min = 0.5\n',
     "residents[0].thresholds.check_default_min: 0.5 out of range 1..1440"),
])
def test_resident_errors_name_the_key_and_the_fix(tmp_path: Path, text: str,
                                                  expected: str) -> None:
    assert expected in _error(tmp_path, HEAD + text)


@pytest.mark.parametrize(("text", "key"), [
    ('active_start = "07:00"\n', "residents[0].active_start"),
    ('active_end = "22:00"\n', "residents[0].active_end"),
    ('[residents.thresholds]\ninactivity_hours = 4\n', "residents[0].thresholds.inactivity_hours"),
    ('[residents.thresholds]\naway_grace_s = 30\n', "residents[0].thresholds.away_grace_s"),
])
def test_retired_keys_say_what_replaced_them(tmp_path: Path, text: str, key: str) -> None:
    message = _error(tmp_path, HEAD + text)
    assert f"{key}: no longer used: " in message
    assert "remove the key" in message


def test_learning_needs_the_store_to_keep_the_days_it_learns_from(tmp_path: Path) -> None:
    message = _error(tmp_path, HEAD + '[residents.thresholds]\nlearn_days = 60\n'
                     '[retention]\nevents_days = 30\n')
    assert "residents[0].thresholds.learn_days: 60 is more than retention.events_days (30)" \
        in message
