"""Dispenser: a medicine carousel that reminds, dispenses and reports
(firmware/roles/dispenser.py; its simulated mechanics in hw/sim/carousel.py)."""

from . import RoleDescription, Stimulus

ROLE = RoleDescription(
    name="dispenser",
    title="medicine dispenser",
    walk_hint="lift and replace the tray",
    pass_events=("dose_due", "dose_taken", "dose_missed", "dispenser_jam", "dispenser_empty",
                 "stock_low", "tamper", "button"),
    stimuli=(
        # The tray reports dose_taken only with a dispensed dose in it: a dose falls due by the
        # hub's set_dose_schedule and set_time (`trygg bench firmware` plays that cycle).
        Stimulus("pin tray 1", None, "the tray is lifted out (dose_taken after a dose)"),
        Stimulus("pin tray 0", None, "the tray is put back"),
        Stimulus("jam 1", None, "the carousel jams (dispenser_jam at the next dose)"),
        Stimulus("carousel 0", None,
                 "the carousel is put back empty (dispenser_empty at the next dose)"),
    ),
)
