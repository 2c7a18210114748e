"""Wearable alarm button: pendant or wristband on a coin cell (firmware/roles/button.py)."""

from . import RoleDescription, Stimulus

_PRESS = Stimulus("pin button 0", None, "the wearer presses the button")
_RELEASE = Stimulus("pin button 1", "button", "and lets go: a call for help")

ROLE = RoleDescription(
    name="button",
    title="wearable alarm button (pendant or wristband, ESP-NOW through the bridge)",
    walk_hint="press the button briefly (a long press cancels)",
    pass_events=("button",),
    stimuli=(_PRESS, _RELEASE),
    # Worn, not fixed: where the resident is, the centre learns by calling back.
    call_text="Personal alarm button pressed",
    cell="coin_cell",  # CR2032 (hw/boards/esp32_devkitc.py, button)
)
