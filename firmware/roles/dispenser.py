"""Dispenser role: a medicine carousel that reminds, dispenses and reports.

The hub sends the dose times (``set_dose_schedule``: ``[[minute_of_day, dose_id],
...]`` in local time). The schedule is kept in storage, so the device goes on
dispensing from it across reboots and while the hub is out of reach. Local time
is the clock (set by the hub's ``set_time``, and kept by the RTC through resets)
plus the UTC offset the hub sent with it.

When a dose falls due the device reports ``dose_due`` (value = dose id), turns
the carousel one compartment so the dose drops into the tray, and reminds: the
LED blinks and the buzzer sounds, one step more insistent every
``reminder_step_s``. Removing the tray within ``dose_window_min`` of the due
time reports ``dose_taken``; the end of the window reports ``dose_missed``. A
dose that cannot be given reports ``dispenser_jam`` (the index sensor did not
see the next compartment within ``carousel_timeout_ms``) or ``dispenser_empty``
(the slot sensor sees no dose in the next compartment), then ``dose_missed``.
``stock_low`` (value = doses left) is reported when the count falls to
``stock_low``; heartbeats carry ``stock``. Putting the carousel back after
lifting it out to refill it (the slot sensor sees a dose appear while the
carousel stands still) sets the stock to ``carousel_slots``.

Never two doses: a dose is written to storage as dispensed *before* the
carousel turns, per local day and dose id, so a reboot or power cut inside a
dose window resumes that dose (reminding, watching the tray) without turning
again. The carousel only turns with the tray in and empty: a dose falling due
while an earlier one is still in the tray waits until the tray has been
emptied. A dose is owed only if it falls due after the schedule holding it
arrived; one whose window passed while the device was off or had no time is
reported missed once time is known again (today's and yesterday's doses).
"""

import asyncio

from micropython import const

from hw.hal import IRQ_FALLING, IRQ_RISING

from .base import Role

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# One storage record, JSON: {"since": local seconds the schedule arrived (None: time was
# unknown then), "doses": [[minute, id], ...] (the schedule), "log": [[day, minute, id, state],
# ...] (today's and yesterday's doses, days in local days since 1970), "tray": a dispensed
# dose is still in the tray, "stock": doses left}.
_RECORD = const("dispenser")
_DUE = const(1)  # dose_due reported, not dispensed yet
_DISPENSED = const(2)
_DONE = const(3)  # taken, missed or not givable: nothing more to do

_DAY_S = const(86400)

# Continuous-rotation servo (FS90R): 50 Hz frames, a 1.3 ms pulse turns it forward (1.5 ms
# would hold it still; no pulses at all lets it rest unpowered).
_SERVO_HZ = const(50)
_SERVO_TURN = const(4260)  # 1.3 ms of 20 ms as duty_u16
# After a turn the dose needs a moment to fall and the carousel to stop rocking; slot sensor
# changes meanwhile belong to the turn, not to a refill.
_SETTLE_MS = const(300)
_BUZZER_HZ = const(2700)  # resonance of common passive piezo buzzers: loudest per mA

# Reminder steps: for each level, the LED and the buzzer are on in the seconds whose bit is
# set in a 4 s pattern, at the level's loudness (duty_u16; 50 % is a piezo's loudest). Level 0
# is light only, so a resident standing by the dispenser is not startled.
_LED_PATTERN = const((0x5, 0x5, 0x5, 0xF))
_BEEP_PATTERN = const((0x0, 0x1, 0x5, 0x7))
_VOLUME = const((0, 4096, 16384, 32768))
_LEVELS = const(4)


class DispenserRole(Role):
    NAME = "dispenser"
    SIGNALS = ("servo", "index", "slot", "tray", "buzzer", "led")
    CONFIG = {
        # A dose counts as taken when the tray is removed within the window.
        "dose_window_min": 60,
        "reminder_step_s": 120,  # sound and light escalate one step this often
        "stock_low": 3,  # doses left when stock_low is reported (a day or so at 3-4 a day)
        # Compartments in the carousel, the stock after a refill (28 = a week at four doses a
        # day, the carousel in the board file's bill of materials).
        "carousel_slots": (28, 1, 255),
        # A turn of one compartment takes ~0.1 s; no index notch within this is a jam.
        "carousel_timeout_ms": (2000, 200, 20000),
    }
    COMMANDS = ("set_dose_schedule",)

    def setup(self) -> None:
        hal = self.hal
        self.storage = self.device.storage
        self.servo = hal.pwm("servo", _SERVO_HZ)
        self.servo.duty_u16(0)
        self.buzzer = hal.pwm("buzzer", _BUZZER_HZ)
        self.buzzer.duty_u16(0)
        self.led = hal.pin_out("led")
        self.led.value(0)
        self.index = hal.pin_in("index")
        self.slot = hal.pin_in("slot")
        self.tray = hal.pin_in("tray", True)
        self._wake = self.hal.flag()
        self._turning = False
        self._steps = 0  # index notches seen
        self._removed = False  # tray taken out since the last look
        self._refilled = False
        self._level = -1
        # Missing, or damaged: start afresh rather than never dispense again.
        state = self.storage.read_json(_RECORD)
        if state is None:  # first start: a carousel showing a dose is taken to be full
            state = {"since": None, "doses": [], "log": [], "tray": False,
                     "stock": 0 if self.slot.value() else self.cfg["carousel_slots"]}
        self.state: dict[str, Any] = state
        self.index.irq(self._on_pin, IRQ_RISING)
        self.tray.irq(self._on_pin, IRQ_RISING)
        self.slot.irq(self._on_pin, IRQ_FALLING)

    def _on_pin(self, pin: "Any") -> None:
        # Soft-IRQ context on the ESP32: note and wake the task, nothing more. The port hands
        # the handler the same Pin object the HAL gave out, so ``is`` tells the inputs apart.
        if pin is self.index:
            self._steps += 1
        elif pin is self.tray:
            self._removed = True
        elif not self._turning:  # slot: a dose appeared with the carousel still: refilled
            self._refilled = True
        self._wake.set()

    def _save(self) -> None:
        self.storage.write(_RECORD, self.state, True)

    # -- life cycle -------------------------------------------------------------------

    async def run(self) -> None:
        # Woken by the inputs, by the hub's commands and by the device's 1 s tick: dose times
        # and reminder steps are whole seconds, so no timer task of its own (RAM).
        while True:
            await self._step()
            await self._wake.wait()

    def tick(self) -> None:
        self._wake.set()

    def report(self, msg: "dict[str, Any]") -> None:
        msg["stock"] = min(self.state["stock"], 255)

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        doses = msg["doses"]  # times and ranges already checked by protocol.messages
        seen = []
        for d in doses:
            if d[1] in seen:
                return "rejected", "dose id %d twice" % d[1]
            seen.append(d[1])
        self.state["since"] = self.device.clock.local()
        self.state["doses"] = doses
        self._save()
        print("dispenser: schedule of %d doses" % len(doses))
        self._wake.set()
        return "ok", None

    def clock_changed(self) -> None:
        self._wake.set()

    # -- the dose cycle -------------------------------------------------------------------

    async def _step(self) -> None:
        """Bring doses, tray and reminders up to date."""
        state = self.state
        log = state["log"]
        if self._refilled:
            self._refilled = False
            state["stock"] = self.cfg["carousel_slots"]
            self._save()
            print("dispenser: refilled, stock %d" % state["stock"])
        local = self.device.clock.local()
        if local is None:  # no time yet: nothing can fall due
            self._remind(-1)
            return
        if self._removed or (state["tray"] and self.tray.value()):
            self._removed = False  # the tray was emptied: what was dispensed is taken
            for entry in log:
                if entry[3] == _DISPENSED:
                    self._finish(entry, "dose_taken")
            if state["tray"]:
                state["tray"] = False
                self._save()
        window = self.cfg["dose_window_min"] * 60
        day = local // _DAY_S
        changed = state["since"] is None
        if changed:
            state["since"] = local
        # Doses that have fallen due since the last look (yesterday's too: a window may
        # reach past midnight).
        for d in (day - 1, day):
            for minute, dose_id in state["doses"]:
                due = d * _DAY_S + minute * 60
                if state["since"] < due <= local and not any(
                        e[0] == d and e[2] == dose_id for e in log):
                    entry = [d, minute, dose_id, _DUE]
                    log.append(entry)
                    changed = True
                    if local >= due + window:  # passed while the device was off or had no time
                        self._finish(entry, "dose_missed")
                    else:
                        print("dispenser: dose %d due" % dose_id)
                        self.device.emit("dose_due", dose_id)
        if changed:
            state["log"] = log = [e for e in log if e[0] >= day - 1 or e[3] != _DONE]
            self._save()
        first = None
        for entry in log:
            if entry[3] == _DONE:
                continue
            due = entry[0] * _DAY_S + entry[1] * 60
            if local >= due + window:
                self._finish(entry, "dose_missed")
                continue
            if entry[3] == _DUE and not state["tray"] and not self.tray.value():
                await self._dispense(entry)
                if entry[3] == _DONE:
                    continue
            if first is None or due < first:
                first = due
        if first is None:
            self._remind(-1)
        else:
            self._remind(min(_LEVELS - 1, (local - first) // self.cfg["reminder_step_s"]))

    def _finish(self, entry: "list[int]", event: str) -> None:
        entry[3] = _DONE
        self._save()
        print("dispenser: dose %d %s" % (entry[2], event[5:]))
        self.device.emit(event, entry[2])

    async def _dispense(self, entry: "list[int]") -> None:
        state = self.state
        if self.slot.value():  # no dose in the next compartment
            self.device.emit("dispenser_empty")
            state["stock"] = 0
            self._finish(entry, "dose_missed")
            return
        # Written before the carousel moves: after a reset mid-turn the dose counts as given,
        # which at worst misses a dose and never gives one twice.
        entry[3] = _DISPENSED
        state["tray"] = True
        self._save()
        if not await self._turn():
            state["tray"] = False
            self.device.emit("dispenser_jam")
            self._finish(entry, "dose_missed")
            return
        self._removed = False
        stock = state["stock"]
        left = 0 if self.slot.value() else max(1, stock - 1)
        print("dispenser: dose %d dispensed, %d left" % (entry[2], left))
        if left <= self.cfg["stock_low"] < stock:
            self.device.emit("stock_low", left)
        state["stock"] = left
        self._save()

    async def _turn(self) -> bool:
        """Turn the carousel one compartment; False if the index did not get there (jam)."""
        start = self._steps
        self._turning = True
        self.servo.duty_u16(_SERVO_TURN)
        arrived = True
        try:
            await asyncio.wait_for_ms(self._next_notch(start), self.cfg["carousel_timeout_ms"])
        except asyncio.TimeoutError:
            arrived = False
        finally:
            self.servo.duty_u16(0)  # whatever happened, the motor must not run on
        await asyncio.sleep_ms(_SETTLE_MS)
        self._turning = False
        return arrived

    async def _next_notch(self, start: int) -> None:
        while self._steps == start:
            await self._wake.wait()

    def _remind(self, level: int) -> None:
        """Drive LED and buzzer for reminder ``level`` (-1: off) for the current second."""
        if level != self._level:
            self._level = level
            if level >= 0:
                print("dispenser: reminder level %d" % level)
        if level < 0:
            self.led.value(0)
            self.buzzer.duty_u16(0)
            return
        bit = 1 << (self.device.clock.uptime() & 3)
        self.led.value(1 if _LED_PATTERN[level] & bit else 0)
        self.buzzer.duty_u16(_VOLUME[level] if _BEEP_PATTERN[level] & bit else 0)


ROLE = DispenserRole
