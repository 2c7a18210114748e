"""Call point: a pull cord or wall button that calls for help (firmware/roles/call_point.py)."""

from . import RoleDescription, Stimulus

_PULL = Stimulus("pin call 0", "button", "the cord is pulled (the contact closes)")
_LET_GO = Stimulus("pin call 1", None, "the cord is let go")

ROLE = RoleDescription(
    name="call_point",
    title="assistance call point (pull cord or wall button)",
    walk_hint="pull the cord (or press the button), then let go",
    pass_events=("button",),
    stimuli=(_PULL, _LET_GO),
    bench_stimuli=(_PULL, _LET_GO),
    quick_settings={"call_press_ms": 0},
    # Fixed in a room, unlike a worn button: it tells the centre where the resident is.
    call_text="Assistance call point activated",
    # Its light and buzzer ask "press if you are fine"; the cord or button answers.
    prompts=True,
)
