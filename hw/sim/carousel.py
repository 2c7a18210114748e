"""The dispenser's mechanics as a model: carousel, chute and tray.

A board with no carousel fitted -- the simulated board, and a real one on the
HIL rig (hw/rig/firmware.py) -- answers the firmware's servo as the mechanism in the
board file's bill of materials does (hw/boards/esp32_devkitc.py, dispenser):
when the servo turns, the index sensor leaves its notch (:meth:`leave`,
unless the carousel is jammed) and, one compartment's travel later, sees the
next one (:meth:`arrive`); the compartment now over the chute drops its dose
into the tray, and the slot sensor looks into the following compartment.

The index and slot lines are set through the callables given (a simulated
signal's ``drive``, a rig pin's ``value``). With ``path`` the state (doses
loaded, doses dropped, jammed) is kept in that file, so that a power cut of a
simulated board neither refills nor empties its carousel.

Control commands, the same on the simulated board and on the rig:

    carousel           "ok <doses left> <doses dropped into the tray so far>"
    carousel <doses>   the carer lifts the carousel out and puts it back holding
                       that many doses (a refill; 0 = put back empty)
    jam <0|1>          the carousel sticks (the index never leaves its notch)
                       or is freed and lined up over the chute again
"""

import time

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

_LOADED = const(28)  # compartments of the carousel in the board file's BOM, full at first start


class Carousel:
    COMMANDS = ("carousel", "jam")

    def __init__(self, set_index: "Any", set_slot: "Any", path: "str | None" = None) -> None:
        self._set_index = set_index
        self._set_slot = set_slot
        self._path = path
        self.doses = _LOADED
        self.dropped = 0
        self.jammed = False
        try:
            with open(path or "") as f:
                words = f.read().split()
            self.doses, self.dropped, self.jammed = int(words[0]), int(words[1]), words[2] == "1"
        except (OSError, ValueError, IndexError):
            pass
        set_slot(0 if self.doses else 1)

    def _save(self) -> None:
        if self._path:
            with open(self._path, "w") as f:
                f.write("%d %d %d" % (self.doses, self.dropped, 1 if self.jammed else 0))

    def leave(self) -> bool:
        """The servo turns: the index leaves its notch; False if the carousel is jammed."""
        if self.jammed:
            return False
        self._set_index(0)
        return True

    def arrive(self) -> None:
        if self.doses:
            self.doses -= 1
            self.dropped += 1
        self._save()
        self._set_slot(0 if self.doses else 1)
        self._set_index(1)

    def control(self, words: "list[str]", lift_ms: int = 0) -> str:
        """One control command; ``lift_ms``: how long a refill leaves the slot sensor empty
        (0 for a simulated board, whose edges cannot be missed)."""
        if words[0] == "carousel" and len(words) == 1:
            return "ok %d %d" % (self.doses, self.dropped)
        if words[0] == "carousel" and len(words) == 2:
            doses = int(words[1])
            if not 0 <= doses <= 255:
                return "error: carousel doses %d outside 0..255" % doses
            self._set_slot(1)  # lifted out: nothing under the slot sensor
            if lift_ms:
                time.sleep_ms(lift_ms)
            self.doses = doses
            self._set_slot(0 if doses else 1)
        elif words[0] == "jam" and len(words) == 2:
            self.jammed = words[1] == "1"
            if not self.jammed:
                self._set_index(1)
        else:
            return "error: usage: carousel [doses] | jam <0|1>"
        self._save()
        return "ok"
