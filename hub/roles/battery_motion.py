"""Battery motion: a PIR on ESP-NOW, asleep between events (firmware/roles/battery_motion.py)."""

from . import RoleDescription, Stimulus

_WALK_PAST = Stimulus("pulse pir", "motion", "someone walks past")

ROLE = RoleDescription(
    name="battery_motion",
    title="battery motion sensor (PIR, ESP-NOW through the bridge)",
    walk_hint="walk past it",
    pass_events=("motion",),
    stimuli=(_WALK_PAST,),
    quick_settings={"motion_holdoff_s": 0},
    cell="aa_alkaline",  # 2xAA (hw/boards/esp32_devkitc.py, battery_motion)
)
