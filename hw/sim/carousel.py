"""The dispenser's mechanics on the simulated board: carousel, chute and tray.

The firmware turns the carousel by driving the servo; this model answers as the
mechanism does (hw/boards/esp32_devkitc.py, dispenser): while the servo turns,
the index sensor leaves its notch and, one compartment's travel later, sees the
next notch; the compartment now over the chute drops its dose into the tray,
and the slot sensor looks into the following compartment. A servo still turning
after the notch has passed carries on to the next compartment, as a real one
would. The mechanism's state (doses loaded, doses dropped, jammed) is kept in a
file beside the board's flash folder: a power cut of the simulated board neither
refills nor empties its carousel.

Control commands (forwarded by hw/sim/hal.py):

    carousel           "ok <doses left> <doses dropped into the tray so far>"
    carousel <doses>   the carer lifts the carousel out and puts it back holding
                       that many doses (a refill; 0 = put back empty)
    jam <0|1>          the carousel sticks (the index never reaches the next
                       notch) or is freed and lined up over the chute again
"""

import asyncio

from micropython import const

from .hal import SimSignal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# One compartment's travel. An FS90R at 5 V turns ~110 rpm, 1/28 turn in ~20 ms; the model is
# slower so that firmware which is late to stop the servo shows up as a double turn.
_TRAVEL_MS = const(60)
_NOTCH_MS = const(15)  # time the notch takes to pass under the index sensor
_LOADED = const(28)  # compartments of the carousel in the board file's BOM, full at first start
_STATE_FILE = "sim_carousel"


class _Servo(SimSignal):
    """The servo output: setting a non-zero duty starts the mechanism turning."""

    def __init__(self, carousel: "Carousel") -> None:
        super().__init__(0)
        self._carousel = carousel

    def duty_u16(self, d: int) -> None:
        self.level = d
        if d:
            self._carousel.turn()


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
        self.servo = hal.sim["servo"] = _Servo(self)
        self.index = hal.pin_in("index")
        self.slot = hal.pin_in("slot")
        self.slot.level = 0 if self.doses else 1
        self._task: Any = None

    def _save(self) -> None:
        with open(self._path, "w") as f:
            f.write("%d %d %d" % (self.doses, self.dropped, 1 if self.jammed else 0))

    def turn(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        servo = self.servo
        while servo.level:
            if self.jammed:  # stalled at its notch: the index sensor sees no change
                await asyncio.sleep_ms(_TRAVEL_MS)
                continue
            self.index.drive(0)
            await asyncio.sleep_ms(_TRAVEL_MS)
            if not servo.level:
                break  # stopped between two notches
            if self.doses:
                self.doses -= 1
                self.dropped += 1
            self._save()
            self.slot.drive(0 if self.doses else 1)
            self.index.drive(1)
            await asyncio.sleep_ms(_NOTCH_MS)
        self._task = None

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
