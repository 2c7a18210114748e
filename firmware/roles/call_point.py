"""Call point role: a pull cord or a wall button that calls for help.

As in the bathrooms of sheltered housing: a ceiling pull-cord switch or a push button whose
normally open contact (``call``) closes to GND (0 = pulled or pressed, internal pull-up).
The contact must still be closed ``call_press_ms`` after it moved before it counts, so that
contact bounce is not a call. A call reports ``button``, URGENT like a fire: sent at once,
ahead of anything queued, never dropped (firmware/outbox.py). The hub raises the assistance
alarm (hub/rules/assistance.py).

The hub may ask the resident to press if she is fine (a local check: hub/rules/local_check.py)
with the ``prompt`` command: the LED blinks and the buzzer beeps briefly every two seconds for
the command's seconds, or until the cord is pulled -- that pull is the answer, reported as any
call is.

A cord held (or caught on its switch) is one call, however long and however much it bounces:
the next call needs the contact to have opened first. A contact closed at start (a cord
held through a reset or a power cut) is a call, since whether it was reported is unknown and
a call too many is the safe error. There is no cancel on the device: the person who comes
closes the alarm at the centre (or ``trygg hub resolve``), and a second pull never cancels
the first.
"""

import asyncio
import time

from micropython import const

from hw.hal import IRQ_FALLING, IRQ_RISING

from .base import Role

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


_BUZZER_HZ = const(2700)  # resonance of common passive piezo buzzers: loudest per mA
# The prompt: the LED toggles every step, the buzzer sounds for the first step of every
# _PROMPT_BEEP_STEPS (a half-second beep every 2 s) at a quarter duty: heard across a flat,
# not the alarm-like insistence that would frighten someone who is fine.
_PROMPT_STEP_MS = const(500)
_PROMPT_BEEP_STEPS = const(4)
_PROMPT_VOLUME = const(16384)


class CallPointRole(Role):
    NAME = "call_point"
    URGENT = ("button",)
    SIGNALS = ("call", "buzzer", "led")
    COMMANDS = ("prompt",)
    CONFIG = {
        # A microswitch bounces for a few ms; a deliberate pull or press holds the contact for
        # well over 100 ms. 0 takes the first reading (a bounce-free electronic contact).
        "call_press_ms": (50, 0, 2000),
    }

    def setup(self) -> None:
        self.buzzer = self.hal.pwm("buzzer", _BUZZER_HZ)
        self.buzzer.duty_u16(0)
        self.led = self.hal.pin_out("led")
        self.led.value(0)
        self._prompt_until = time.ticks_ms()  # until which the prompt runs (none yet)
        self._prompt_task: Any = None  # the running prompt, if any
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
                self._prompt_until = time.ticks_ms()  # the answer, if she was asked: stop
                self.device.emit("button")
            else:
                print("call point: released")


    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        # "prompt" (the only command of the role; protocol/messages.py checked its seconds):
        # a new prompt replaces the time left of a running one.
        seconds = msg["seconds"]
        self._prompt_until = time.ticks_add(time.ticks_ms(), seconds * 1000)
        print("call point: prompting for %d s" % seconds)
        if self._prompt_task is None:
            self._prompt_task = asyncio.create_task(self._prompt())
        return "ok", None

    async def _prompt(self) -> None:
        step = 0
        while time.ticks_diff(self._prompt_until, time.ticks_ms()) > 0:
            self.led.value(1 - step % 2)
            self.buzzer.duty_u16(_PROMPT_VOLUME if step % _PROMPT_BEEP_STEPS == 0 else 0)
            await asyncio.sleep_ms(_PROMPT_STEP_MS)
            step += 1
        self.led.value(0)
        self.buzzer.duty_u16(0)
        self._prompt_task = None
        print("call point: prompt ended")


ROLE = CallPointRole
