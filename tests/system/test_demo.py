"""`trygg demo --json`: every scenario ends at the alarm centre as README's demo table says,
and with nothing else.

The whole system at once, all real parts on loopback: mosquitto with the hub's ACLs, the hub,
pysiaalarm as the centre, and six boards running the firmware on the MicroPython unix port,
provisioned over their ptys. Only the radios are simulated. Takes about four minutes.
"""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.micropython  # the home's boards run the firmware on the unix port

# README, "The simulated-home demo": what the centre must receive per scenario, as
# (kind, SIA code) of the alarms and of the restores. Exactly these, in this order.
AT_THE_CENTRE = {
    "quiet-day": ([], []),
    "smoke": ([("fire", "FA")], [("fire", "FH")]),
    "missed-dose": ([("missed_dose", "MT")], []),
    "bathroom-fall": ([("possible_fall", "MA")], []),
    "night-fall": ([("possible_fall", "MA")], []),
}


def test_demo_brings_each_scenarios_alarms_and_restores_to_the_centre_and_nothing_else() -> None:
    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "demo", "--json"],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    scenarios = summary["scenarios"]
    assert set(scenarios) == set(AT_THE_CENTRE)
    for name, (alarms, restores) in AT_THE_CENTRE.items():
        got = scenarios[name]
        assert [(a["kind"], a["code"]) for a in got["alarms_at_arc"]] == alarms, (name, got)
        assert [(r["kind"], r["code"]) for r in got["restores_at_arc"]] == restores, (name, got)
        for alarm in got["alarms_at_arc"] + got["restores_at_arc"]:
            assert 1 <= alarm["zone"] <= 998, (name, alarm)
        for alarm in got["alarms_at_arc"]:
            assert alarm["latency_from_raise_ms"] is not None, (name, alarm)
    assert summary["passed"] is True
    assert proc.returncode == 0, proc.stderr[-2000:]
