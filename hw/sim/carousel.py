"""The dispenser's mechanics on the simulated board: carousel, chute and tray.

The firmware turns the carousel by driving the servo; this model answers as the
mechanism does (hw/boards/esp32_devkitc.py, dispenser): when the servo starts,
the carousel moves one compartment at once -- the index sensor leaves its notch
and sees the next one, the compartment now over the chute drops its dose into
the tray, and the slot sensor looks into the following compartment -- unless it
is jammed, when the index never moves. The mechanism's state (doses loaded,
doses dropped, jammed) is kept in a file beside the board's flash folder: a
power cut of the simulated board neither refills nor empties its carousel.

Control commands (forwarded by hw/sim/hal.py):

    carousel           "ok <doses left> <doses dropped into the tray so far>"
    carousel <doses>   the carer lifts the carousel out and puts it back holding
                       that many doses (a refill; 0 = put back empty)
    jam <0|1>          the carousel sticks (the index never reaches the next
                       notch) or is freed and lined up over the chute again
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

_LOADED = const(28)  # compartments of the carousel in the board file's BOM, full at first start
_STATE_FILE = const("sim_carousel")


class Carousel:
    COMMANDS = ("carousel", "jam")

    def __init__(self, hal: "Any") -> None:
        self._path = hal.root + _STATE_FILE
        self.doses = _LOADED
        self.dropped = 0
        self.jammed = False
        try:
            with open(self._path) as f:
                words = f.read().split()
            self.doses, self.dropped, self.jammed = int(words[0]), int(words[1]), words[2] == "1"
        except (OSError, ValueError, IndexError):
            pass
        hal.pin_in("servo").on_change = self._servo
        self.index = hal.pin_in("index")
        self.slot = hal.pin_in("slot")
        self.slot.level = 0 if self.doses else 1

    def _save(self) -> None:
        with open(self._path, "w") as f:
            f.write("%d %d %d" % (self.doses, self.dropped, 1 if self.jammed else 0))

    def _servo(self, duty: int) -> None:
        if not duty or self.jammed:  # stopped, or stalled at its notch
            return
        self.index.drive(0)
        if self.doses:
            self.doses -= 1
            self.dropped += 1
        self._save()
        self.slot.drive(0 if self.doses else 1)
        self.index.drive(1)

    def control(self, words: "list[str]") -> str:
        if words[0] == "carousel" and len(words) == 1:
            return "ok %d %d" % (self.doses, self.dropped)
        if words[0] == "carousel" and len(words) == 2:
            doses = int(words[1])
            if not 0 <= doses <= 255:
                return "error: carousel doses %d outside 0..255" % doses
            self.slot.drive(1)  # lifted out: nothing under the slot sensor
            self.doses = doses
            self.slot.drive(0 if doses else 1)
        elif words[0] == "jam" and len(words) == 2:
            self.jammed = words[1] == "1"
            if not self.jammed:
                self.index.drive(1)
        else:
            return "error: usage: carousel [doses] | jam <0|1>"
        self._save()
        return "ok"
