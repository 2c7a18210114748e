"""Call point role: a pull cord or a wall button that calls for help.

As in the bathrooms of sheltered housing: a ceiling pull-cord switch or a push button whose
normally open contact (``call``) closes to GND (0 = pulled or pressed, internal pull-up).
The contact must still be closed ``call_press_ms`` after it moved before it counts, so that
contact bounce is not a call. A call reports ``button``, URGENT like a fire: sent at once,
ahead of anything queued, never dropped (firmware/outbox.py). The hub raises the assistance
alarm (hub/rules/assistance.py).

A cord held (or caught on its switch) is one call, however long and however much it bounces:
the next call needs the contact to have opened first. A contact closed at start (a cord
held through a reset or a power cut) is a call, since whether it was reported is unknown and
a call too many is the safe error. There is no cancel on the device: the person who comes
closes the alarm at the centre (or ``trygg hub resolve``), and a second pull never cancels
the first.
"""

import asyncio

from micropython import const

from hw.hal import IRQ_FALLING, IRQ_RISING

from .base import Role

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


class CallPointRole(Role):
    NAME = "call_point"
    URGENT = ("button",)
    SIGNALS = ("call",)
    CONFIG = {
        # A microswitch bounces for a few ms; a deliberate pull or press holds the contact for
        # well over 100 ms. 0 takes the first reading (a bounce-free electronic contact).
        "call_press_ms": (50, 0, 2000),
    }

    def setup(self) -> None:
        self._flag = self.hal.flag()
        self.contact = self.hal.pin_in("call", True)
        self._closed = False  # as last reported: a closed contact at start is a call
        if not self.contact.value():
            self._flag.set()
        self.contact.irq(self._on_contact, IRQ_RISING | IRQ_FALLING)

    def _on_contact(self, pin: "Any") -> None:
        # Soft-IRQ context on the ESP32: wake the task, nothing more.
        self._flag.set()

    async def run(self) -> None:
        while True:
            await self._flag.wait()
            await asyncio.sleep_ms(self.cfg["call_press_ms"])
            closed = not self.contact.value()
            if closed == self._closed:
                if not closed:
                    print("call point: contact opened again within call_press_ms: not a call")
                continue
            self._closed = closed
            if closed:
                self.device.emit("button")
            else:
                print("call point: released")


ROLE = CallPointRole
