"""Smoke role: relays a certified smoke alarm (it does not replace one).

Inputs (hw/boards): the alarm's relay/interconnect output through an
optocoupler (``smoke_alarm``, 1 = alarm), the interface's test button
(``smoke_test``, 0 = pressed) and the supervised alarm line (``smoke_line``,
ADC): an end-of-line resistor holds it near half scale, a short circuit pulls
it to 0 and a broken line lets it float to full scale (the supervision of
EN 54-13 / EN 50131 style wired detectors).

smoke_alarm, smoke_clear, smoke_test and smoke_fault are URGENT: sent at once,
ahead of anything queued, never held off (firmware/outbox.py). fault_clear is
an alarm-class event (never dropped).
"""

import asyncio

from micropython import const

from hw.hal import IRQ_FALLING, IRQ_RISING

from .base import Role

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# Line supervision thresholds (read_u16 scale): normal is ~32768 with the 4k7/4k7 wiring;
# a margin of ~40 % either side tolerates resistor and ADC tolerance (ESP32 ADC is +-6 %).
_LINE_SHORT = const(6000)
_LINE_OPEN = const(59000)
_FAULT_OPEN = const(1)  # smoke_fault value: line open
_FAULT_SHORT = const(2)  # smoke_fault value: line short-circuited
# A fault must persist this many samples (default 3 x 200 ms) before it is reported, so a
# contact glitch while someone dusts the alarm is not a fault.
_FAULT_SAMPLES = const(3)


class SmokeRole(Role):
    NAME = "smoke"
    URGENT = ("smoke_alarm", "smoke_clear", "smoke_test", "smoke_fault")
    SIGNALS = ("smoke_alarm", "smoke_test", "smoke_line")
    CONFIG = {
        "sample_ms": (200, 10, 10000),  # sampling period of the supervised alarm line
    }

    def setup(self) -> None:
        self._flag = self.hal.flag()
        self.alarm = self.hal.pin_in("smoke_alarm")
        self.button = self.hal.pin_in("smoke_test", True)
        self.line = self.hal.adc("smoke_line")
        self._alarm = 0
        self._pressed = 0
        self._fault = 0  # 0 = line normal, else _FAULT_OPEN / _FAULT_SHORT
        self._candidate = 0
        self._count = 0
        self.alarm.irq(self._wake, IRQ_RISING | IRQ_FALLING)
        self.button.irq(self._wake, IRQ_RISING | IRQ_FALLING)

    def _wake(self, pin: "Any") -> None:
        self._flag.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for_ms(self._flag.wait(), self.cfg["sample_ms"])
            except asyncio.TimeoutError:
                self._sample_line()
            alarm = self.alarm.value()
            if alarm != self._alarm:
                self._alarm = alarm
                self.device.emit("smoke_alarm" if alarm else "smoke_clear")
            pressed = 0 if self.button.value() else 1
            if pressed and not self._pressed:
                self.device.emit("smoke_test")
            self._pressed = pressed

    def _sample_line(self) -> None:
        level = self.line.read_u16()
        fault = _FAULT_SHORT if level < _LINE_SHORT else _FAULT_OPEN if level > _LINE_OPEN else 0
        if fault != self._candidate:
            self._candidate = fault
            self._count = 0
        self._count += 1
        if self._count >= _FAULT_SAMPLES and fault != self._fault:
            self._fault = fault
            if fault:
                self.device.emit("smoke_fault", fault)
            else:
                self.device.emit("fault_clear")


ROLE = SmokeRole
