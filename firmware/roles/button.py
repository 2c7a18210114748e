"""Wearable alarm button (pendant or wristband), on a coin cell (firmware/espnow.py).

The button (``button``, pressed = 0, wakes the chip from deep sleep) calls for help:
a press shorter than ``cancel_press_ms`` is ``button`` (URGENT: the assistance alarm,
sent at once, never dropped), a press held that long is ``cancel`` (the wearer is fine).
Feedback, on the LED (``led``) and printed on the console:

* "received": the hub's ``indicate`` command with level 1, sent when it has stored the
  call's alarm and is passing it on: one blink;
* "acknowledged": ``indicate`` with level 2, sent when the alarm centre has acknowledged
  the call: three blinks. After a call the button wakes every ``feedback_poll_s`` for up
  to ``feedback_window_s`` to ask the bridge for them.

A long press (``cancel``) is confirmed with one blink; the hub withdraws the call at the
centre (a restore) if the centre still has it open.

A press while the call is waiting for the centre is a new call (a frightened wearer
presses again; the hub's assistance rule makes it one alarm).
"""

import time

from hw import low_power

from ..espnow import EspNowLink, needs_bridge
from .base import Role

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_BLINK_MS = 200  # what the wearer sees; each blink is awake time (trygg bench energy)


class ButtonRole(Role):
    NAME = "button"
    link = EspNowLink
    conflict = staticmethod(needs_bridge)
    URGENT = ("button",)
    SIGNALS = ("button", "led")
    CONFIG = {
        # Long enough that no frightened press is taken for a cancel (EN 50134-2 asks for a
        # deliberate action to cancel); short enough to be found without the manual.
        "cancel_press_ms": (3000, 500, 10000),
        # How often the button asks for the centre's acknowledgement after a call; each ask
        # is a wake with the radio on (trygg bench energy).
        "feedback_poll_s": (10, 2, 600),
        # Centres answer a call within minutes; after this the button stops asking.
        "feedback_window_s": (300, 0, 3600),
    }
    COMMANDS = ("indicate",)

    def setup(self) -> None:
        self.button = self.hal.pin_in("button", True)
        self.led = self.hal.pin_out("led")
        self.waiting_until = 0  # sleep clock ms until which the centre's ack is asked for
        # The highest level of the last call shown to the wearer: each step is shown once and
        # never backwards, whatever order or how often the hub's indicates arrive (a retry
        # after a hub restart, a later wake: the device's memory of command ids does not
        # outlive deep sleep).
        self.shown = 0
        self._called = False  # a call was made in this wake

    def resume(self, state: "Any", wake: "str | None") -> None:
        if isinstance(state, list) and len(state) == 2:
            self.waiting_until, self.shown = state
        self._wake = wake

    async def awake(self) -> None:
        if self.button.value():  # not pressed (woken by the timer, or a bounce)
            return
        start = time.ticks_ms()
        limit = self.cfg["cancel_press_ms"]
        while not self.button.value() and time.ticks_diff(time.ticks_ms(), start) < limit:
            await _sleep(20)
        if self.button.value():
            self._called = True
            self.shown = 0  # a new call: its steps are yet to be shown
            self.device.emit("button")
            self.waiting_until = (low_power.of(self.hal).sleep_clock_ms()
                                  + self.cfg["feedback_window_s"] * 1000)
        else:
            print("button: long press: cancel")
            self.device.emit("cancel")
            self.waiting_until = 0
            self.shown = 2  # the call is over: nothing more of it to show
            self._blink(1)

    def wants_downlink(self) -> bool:
        return self.waiting_until > low_power.of(self.hal).sleep_clock_ms()

    def finish(self) -> None:
        if self._called:
            for e in self.device.outbox.entries:
                if e[1] == 3:  # outbox.URGENT: the call is still unacked
                    print("button: call not yet received by the hub")
                    return

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        # "indicate" (the only command it takes): how far the call has come.
        level = msg["level"]
        if level <= self.shown:
            print("button: feedback level %d: shown already" % level)
            return "ok", None
        self.shown = level
        if level == 1:
            print("button: feedback received")
            self._blink(1)
            return "ok", None
        print("button: feedback acknowledged")
        self.waiting_until = 0
        self._blink(3)
        return "ok", None

    def _blink(self, times: int) -> None:
        for _ in range(times):
            self.led.value(1)
            time.sleep_ms(_BLINK_MS)
            self.led.value(0)
            time.sleep_ms(_BLINK_MS // 2)

    def sleep_plan(self) -> "tuple[int, str | None, int]":
        if self.wants_downlink():
            return self.cfg["feedback_poll_s"] * 1000, "button", 0
        return 0, "button", 0

    def rtc_state(self) -> "Any":
        return [self.waiting_until if self.wants_downlink() else 0, self.shown]


async def _sleep(ms: int) -> None:
    import asyncio

    await asyncio.sleep_ms(ms)


ROLE = ButtonRole
