"""The HIL rig's firmware (hw/rig/firmware.py) on the real MicroPython interpreter.

The rig's GPIOs, DACs and timer are the one stand-in: an ESP32's ``machine`` module cannot
exist on this machine, so a recording fake takes its place (the unix port's own ``machine``
has no Pin). Everything above it -- the command grammar shared with the simulated board, and
the carousel model that answers the dispenser's servo -- is the code that runs on the rig.
"""

from __future__ import annotations

import json

import pytest

from support import mpy

pytestmark = pytest.mark.micropython

# A recording stand-in for the ESP32's machine module, installed before hw.rig.firmware is imported.
FAKE_MACHINE = """
import sys, time
class _Machine:
    levels = {}
    writes = []  # (gpio, level, ticks_ms) for every pin write, in order
    handlers = {}
    timers = []

    class Pin:
        IN = 1
        OUT = 2
        IRQ_RISING = 1
        def __init__(self, gpio, mode=1, value=None):
            self.gpio = gpio
            if value is not None:
                _Machine.set(gpio, value)
        def value(self, v=None):
            if v is None:
                return _Machine.levels.get(self.gpio, 0)
            _Machine.set(self.gpio, v)
        def irq(self, handler, trigger):
            _Machine.handlers[self.gpio] = handler

    class DAC:
        def __init__(self, pin):
            self.gpio = pin.gpio
        def write(self, v):
            _Machine.levels[self.gpio] = v

    class Timer:
        ONE_SHOT = 0
        def __init__(self, n):
            pass
        def init(self, mode, period, callback):
            _Machine.timers.append(callback)

    @staticmethod
    def set(gpio, level):
        _Machine.levels[gpio] = level
        _Machine.writes.append((gpio, level, time.ticks_ms()))

    @staticmethod
    def fire():
        while _Machine.timers:
            _Machine.timers.pop(0)(None)

sys.modules["machine"] = _Machine
import hw.rig.firmware
from hw.rig import board as hil_rig
"""


def run_rig(run_micropython: mpy.RunMicroPython, steps: str) -> dict[str, object]:
    result = run_micropython(FAKE_MACHINE + steps)
    assert result.returncode == 0, result.stdout + result.stderr
    out: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_rig_sets_real_pins_for_the_simulated_boards_commands(
        run_micropython: mpy.RunMicroPython) -> None:
    out = run_rig(run_micropython, """
import json
L = _Machine.levels
replies = [hw.rig.firmware.command("pin smoke_alarm 1"), hw.rig.firmware.command("pulse pir 5"),
           hw.rig.firmware.command("adc bed 40000"), hw.rig.firmware.command("adc bed 70000"),
           hw.rig.firmware.command("pin toaster 1"), hw.rig.firmware.command("spin pir")]
pir = hil_rig.DIGITAL["pir"]
print(json.dumps({"replies": replies, "alarm": L[hil_rig.DIGITAL["smoke_alarm"]],
                  "pir": [(v, t) for g, v, t in _Machine.writes if g == pir],
                  "bed": L[hil_rig.ANALOG["bed"]]}))
""")
    assert out["replies"][:3] == ["ok", "ok", "ok"]
    assert all(r.startswith("error: ") for r in out["replies"][3:])  # type: ignore[index]
    assert (out["alarm"], out["bed"]) == (1, 40000 >> 8)
    # `pulse pir 5`: the line starts low (set up as an output at 0), goes high, and back low
    # no sooner than 5 ms later.
    pir = out["pir"]
    assert [level for level, _ms in pir] == [0, 1, 0], pir
    _, high_at, low_at = (ms for _level, ms in pir)
    assert low_at - high_at >= 5, pir


def test_rig_carousel_answers_the_dispensers_servo_like_the_simulated_one(
        run_micropython: mpy.RunMicroPython) -> None:
    out = run_rig(run_micropython, """
import json, time
L = _Machine.levels
index, slot = hil_rig.DIGITAL["index"], hil_rig.DIGITAL["slot"]
servo = lambda: _Machine.handlers[hil_rig.SENSE["servo"]](None)
seen = {"refill": hw.rig.firmware.command("carousel 2"), "ready": (L[index], L[slot])}
time.sleep_ms(120)
servo()  # the DUT starts its servo: the index leaves its notch
seen["turning"] = L[index]
servo()  # more PWM pulses while travelling start nothing new
_Machine.fire()  # one compartment's travel later
seen["arrived"] = (L[index], L[slot])
servo()  # a pulse right after the arrival belongs to the DUT's stop
seen["stopped"] = (L[index], len(_Machine.timers))
time.sleep_ms(120)
servo(); _Machine.fire()
seen["emptied"] = (L[index], L[slot], hw.rig.firmware.command("carousel"))
hw.rig.firmware.command("jam 1")
time.sleep_ms(120)
servo()
seen["jammed"] = (L[index], len(_Machine.timers))
print(json.dumps(seen))
""")
    assert out["refill"] == "ok"
    assert out["ready"] == [1, 0]  # a compartment over the chute, a dose in the next one
    assert out["turning"] == 0
    assert out["arrived"] == [1, 0]  # one dose dropped, one left
    assert out["stopped"] == [1, 0]
    assert out["emptied"] == [1, 1, "ok 0 2"]  # the slot sensor sees no more doses
    assert out["jammed"] == [1, 0]  # a jammed carousel never leaves its notch
