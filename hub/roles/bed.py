"""Bed: a pressure mat under the mattress (firmware/roles/bed.py)."""

from . import RoleDescription, Stimulus

_STIMULI = (
    Stimulus("adc bed 40000", "bed_in", "someone lies down on the mat"),
    Stimulus("adc bed 1000", "bed_out", "the bed is left"),
)

ROLE = RoleDescription(
    name="bed",
    title="bed sensor (pressure mat)",
    # bed_enter_s (firmware/roles/bed.py, 10 s by default): a shorter sit passes nothing.
    walk_hint="sit on the mat for 10 s (bed_enter_s), then get up",
    pass_events=("bed_in", "bed_out", "calibrated"),
    stimuli=_STIMULI,
    bench_stimuli=_STIMULI,
    quick_settings={"bed_enter_s": 0, "bed_exit_s": 0, "sample_ms": 10},
)
