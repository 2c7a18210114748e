"""The HIL rig's firmware: the simulated board's control commands, on real pins.

Runs on the rig board (hw/boards/hil_rig.py), called over its REPL by the
tests: ``import hw.rig; hw.rig.command("pulse pir")``. It understands the same
``pin``, ``pulse`` and ``adc`` lines as the simulated HAL's control channel
(hw/sim/hal.py), so one test drives a simulated board or a real one.
"""

import time

from machine import DAC, Pin

from hw.boards import hil_rig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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


def command(line: str) -> str:
    """Run one control line; answer ``ok`` or ``error: <what>`` (never raises)."""
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
        else:
            return "error: unknown command " + line
    except ValueError as e:
        return "error: %s" % e
    return "ok"
