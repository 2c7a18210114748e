"""`trygg demo --json`: every scenario ends at the alarm centre as it should.

The whole system at once, all real parts on loopback: mosquitto with the hub's ACLs, the hub,
pysiaalarm as the centre, and six boards running the firmware on the MicroPython unix port,
provisioned over their ptys. Only the radios are simulated. Takes about four minutes.
"""

import json
import subprocess
import sys


def test_demo_raises_the_expected_alarm_per_scenario_and_none_on_a_quiet_day() -> None:
    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "demo", "--json"],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    scenarios = summary["scenarios"]
    assert scenarios["quiet-day"]["alarms_at_arc"] == []
    for name, kind in (("smoke", "fire"), ("missed-dose", "missed_dose"),
                       ("bathroom-fall", "possible_fall"), ("night-fall", "possible_fall")):
        kinds = [a["kind"] for a in scenarios[name]["alarms_at_arc"]]
        assert kind in kinds, (name, scenarios[name])
        alarm = next(a for a in scenarios[name]["alarms_at_arc"] if a["kind"] == kind)
        assert 1 <= alarm["zone"] <= 998
        assert alarm["latency_from_raise_ms"] is not None
    assert summary["passed"] is True
    assert proc.returncode == 0, proc.stderr[-2000:]
