"""Smoke: the interface to a certified smoke alarm (firmware/roles/smoke.py)."""

from . import RoleDescription, Stimulus

_ALARM = Stimulus("pin smoke_alarm 1", "smoke_alarm", "the smoke alarm goes off")
_CLEAR = Stimulus("pin smoke_alarm 0", "smoke_clear", "it falls silent")

ROLE = RoleDescription(
    name="smoke",
    title="smoke alarm interface",
    walk_hint="press the smoke alarm's test button",
    pass_events=("smoke_test", "smoke_alarm", "smoke_clear"),
    stimuli=(
        Stimulus("pin smoke_test 0", "smoke_test", "the test button is pressed"),
        Stimulus("pin smoke_test 1", None, "the test button is released"),
        _ALARM,
        _CLEAR,
        Stimulus("adc smoke_line 0", "smoke_fault", "the alarm line is short-circuited"),
        Stimulus("adc smoke_line 32768", "fault_clear", "the line is whole again"),
    ),
    bench_stimuli=(_ALARM, _CLEAR),
    quick_settings={"sample_ms": 10},
)
