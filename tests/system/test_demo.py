"""`trygg demo --json`: every scenario ends at the alarm centre as README's demo table says,
and with nothing else, in the centre's own protocol.

The whole system at once, all real parts on loopback: mosquitto with the hub's ACLs, the hub,
the centre (by default the SCAIP console behind a real kamailio; pysiaalarm for SIA DC-09; the
SOS Access console), and six Wi-Fi boards running the firmware on the MicroPython unix port,
provisioned over their ptys, with the bridge on the hub's serial port and the resident's
wearable button on a simulated ESP-NOW medium. Only the radios are simulated. The default
centre plays every scenario (about four minutes); the other two the smoke scenario, an alarm
and its restore.
"""

import json
import subprocess
import sys
from typing import Any

import pytest

from support.scaip import needs_sip

pytestmark = pytest.mark.micropython  # the home's boards run the firmware on the unix port

# README, "The simulated-home demo": what the centre must receive per scenario, as
# (kind, code on the wire) of the alarms and of the restores. Exactly these, in this order.
# The codes are written out here, not read from the encoders' tables: SIA codes (DC-03),
# SCAIP device type / status code (SS 91100: 0023 smoke detector, 0011 pill dispenser, 0002
# local unit; 0009 automatic alarm, 0081 pill not taken, 0094 restoral), SOS Access event
# code and alarm type (AL alarm, RE restore). SCAIP 0010: manual alarm (the button).
AT_THE_CENTRE = {
    "scaip": {
        "quiet-day": ([], []),
        "smoke": ([("fire", "0023/0009")], [("fire", "0023/0094")]),
        "missed-dose": ([("missed_dose", "0011/0081")], []),
        "bathroom-fall": ([("possible_fall", "0002/0009")], []),
        "night-fall": ([("possible_fall", "0002/0009")], []),
        "button-call": ([("assistance", "0002/0010")], []),
    },
    "dc09": {"smoke": ([("fire", "FA")], [("fire", "FH")])},
    "sos-access": {"smoke": ([("fire", "FA AL")], [("fire", "FA RE")])},
}
# What the wearer's button must show after its call (its console's "button: feedback ..."):
# the hub has the call, then the centre acknowledged it. Exactly these, in this order.
AT_THE_WEARER = {"button-call": ["received", "acknowledged"]}


def _demo(*args: str) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "demo", "--json",
                           *args], capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


def _check(summary: dict[str, Any], centre: str) -> None:
    assert summary["centre"] == centre
    scenarios = summary["scenarios"]
    expected = AT_THE_CENTRE[centre]
    assert set(scenarios) == set(expected)
    for name, (alarms, restores) in expected.items():
        got = scenarios[name]
        assert [(a["kind"], a["code"]) for a in got["alarms_at_arc"]] == alarms, (name, got)
        assert [(r["kind"], r["code"]) for r in got["restores_at_arc"]] == restores, (name, got)
        assert got["feedback_at_wearer"] == AT_THE_WEARER.get(name, []), (name, got)
        for alarm in got["alarms_at_arc"] + got["restores_at_arc"]:
            assert 1 <= alarm["zone"] <= 998, (name, alarm)
        for alarm in got["alarms_at_arc"]:
            # From the hub's raise (its store, sub-second) to the console: after it, always.
            assert alarm["latency_from_raise_ms"] is not None, (name, alarm)
            assert alarm["latency_from_raise_ms"] >= 0, (name, alarm)
            if alarm.get("latency_from_stimulus_ms") is not None:  # the scenario touched a board
                assert alarm["latency_from_stimulus_ms"] >= alarm["latency_from_raise_ms"], \
                    (name, alarm)
    assert summary["passed"] is True


@needs_sip
def test_demo_brings_each_scenarios_alarms_and_restores_to_a_scaip_centre_and_nothing_else(
        ) -> None:
    summary, proc = _demo()  # SCAIP is the default centre
    _check(summary, "scaip")
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("centre", ["dc09", "sos-access"])
def test_demo_on_request_brings_the_fire_and_its_restore_to_a_dc09_or_sos_access_centre(
        centre: str) -> None:
    summary, proc = _demo("--centre", centre, "--scenario", "smoke")
    _check(summary, centre)
    assert proc.returncode == 0, proc.stderr[-2000:]
