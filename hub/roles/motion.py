"""Motion: a PIR, and by the entrance a door contact (firmware/roles/motion.py)."""

from . import RoleDescription, Stimulus

_WALK_PAST = Stimulus("pulse pir", "motion", "someone walks past")

ROLE = RoleDescription(
    name="motion",
    title="motion sensor (PIR, optional entrance door contact)",
    walk_hint="walk past it",
    pass_events=("motion", "door_open", "door_close"),  # the door counts for the entrance
    stimuli=(
        _WALK_PAST,
        Stimulus("pin door 1", "door_open", "the entrance door opens (door_contact)"),
        Stimulus("pin door 0", "door_close", "it closes"),
    ),
    bench_stimuli=(_WALK_PAST,),
    quick_settings={"motion_holdoff_s": 0},
)
