"""The HIL rig's firmware: the simulated board's control commands, on real pins.

Runs on the rig board (hw/rig/board.py), called over its REPL by the
tests: ``import hw.rig.firmware; hw.rig.firmware.command("pulse pir")``. It understands the same
``pin``, ``pulse`` and ``adc`` lines as the simulated HAL's control channel
(hw/sim/hal.py), so one test drives a simulated board or a real one, and the
dispenser's ``carousel [doses]`` and ``jam <0|1>`` (hw/sim/carousel.py): the first
of those starts the carousel's model, which watches the DUT's servo signal and
answers on the index and slot lines.
"""

import time

from machine import DAC, Pin, Timer
from micropython import const

from hw.rig import board as hil_rig
from hw.sim.carousel import Carousel

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# One compartment's travel, as on the simulated board. The DUT stops its servo at the index
# edge; servo pulses for a while after the arrival belong to that stop, not to a new turn.
_TRAVEL_MS = const(60)
_SETTLE_MS = const(100)
# During a refill the slot line shows "no dose" this long: an edge the DUT cannot miss.
_REFILL_MS = const(50)

_pins: "dict[str, Any]" = {}


def _out(signal: str) -> "Any":
    pin = _pins.get(signal)
    if pin is None:
        if signal in hil_rig.DIGITAL:
            pin = Pin(hil_rig.DIGITAL[signal], Pin.OUT, value=0)
        elif signal in hil_rig.ANALOG:
            pin = DAC(Pin(hil_rig.ANALOG[signal]))
        else:
            raise ValueError("unknown signal " + signal)
        _pins[signal] = pin
    return pin


class _CarouselDrive:
    """Runs hw/sim/carousel.py's model from the DUT's servo signal, in real time."""

    def __init__(self) -> None:
        index = _out("index")
        self.model = Carousel(index.value, _out("slot").value)
        index.value(1)  # a compartment over the chute
        self._moving = False
        self._arrived: Any = time.ticks_ms()
        self._timer = Timer(0)
        Pin(hil_rig.SENSE["servo"], Pin.IN).irq(self._on_servo, Pin.IRQ_RISING)

    def _on_servo(self, pin: "Any") -> None:
        # A servo pulse (50 Hz while the DUT drives the motor): a compartment's travel begins.
        if self._moving or time.ticks_diff(time.ticks_ms(), self._arrived) < _SETTLE_MS:
            return
        if self.model.leave():
            self._moving = True
            self._timer.init(mode=Timer.ONE_SHOT, period=_TRAVEL_MS, callback=self._arrive)

    def _arrive(self, timer: "Any") -> None:
        self.model.arrive()
        self._arrived = time.ticks_ms()
        self._moving = False


_carousel: "_CarouselDrive | None" = None


def command(line: str) -> str:
    """Run one control line; answer ``ok`` or ``error: <what>`` (never raises)."""
    global _carousel
    parts = line.split()
    try:
        if len(parts) == 3 and parts[0] == "pin":
            _out(parts[1]).value(1 if parts[2] == "1" else 0)
        elif len(parts) in (2, 3) and parts[0] == "pulse":
            pin = _out(parts[1])
            pin.value(1)
            time.sleep_ms(int(parts[2]) if len(parts) == 3 else 100)
            pin.value(0)
        elif len(parts) == 3 and parts[0] == "adc":
            level = int(parts[2])
            if not 0 <= level <= 65535:
                return "error: level 0..65535"
            _out(parts[1]).write(level >> 8)
        elif parts and parts[0] in ("carousel", "jam"):
            if _carousel is None:
                _carousel = _CarouselDrive()
            return _carousel.model.control(parts, _REFILL_MS)
        else:
            return "error: unknown command " + line
    except ValueError as e:
        return "error: %s" % e
    return "ok"
