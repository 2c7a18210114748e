"""Battery bed: a pressure mat behind a comparator, on ESP-NOW (firmware/roles/battery_bed.py)."""

from . import RoleDescription, Stimulus

ROLE = RoleDescription(
    name="battery_bed",
    title="battery bed sensor (pressure mat and comparator, ESP-NOW through the bridge)",
    walk_hint="lie down on the bed, then get up",
    pass_events=("bed_in", "bed_out"),
    stimuli=(
        Stimulus("pin bed_occupied 1", "bed_in", "someone lies down"),
        Stimulus("pin bed_occupied 0", "bed_out", "they get up"),
    ),
    quick_settings={"bed_settle_ms": 0},
    cell="aa_alkaline",  # 2xAA, as the battery motion sensor
)
