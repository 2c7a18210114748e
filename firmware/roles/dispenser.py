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
import json

from micropython import const

from hw.hal import IRQ_FALLING, IRQ_RISING

from .base import Role

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Storage records. Schedule: {"since": local seconds it arrived (None: time was unknown),
# "doses": [[minute, id], ...]}. Log: {"tray": dose in the tray, "doses": [[day, minute, id,
# state], ...]} for today and yesterday (local days since 1970). Stock: doses left, as text.
_SCHEDULE = "doses"
_LOG = "dose_log"
_STOCK = "stock"
_DUE = const(1)  # dose_due reported, not dispensed yet
_DISPENSED = const(2)
_DONE = const(3)  # taken, missed or not givable: nothing more to do

_DAY_S = const(86400)
_IDLE_MS = const(60000)  # longest sleep without a dose in progress (the clock may be reset)
_TICK_MS = const(250)  # reminder pattern resolution while a dose is in progress

# Continuous-rotation servo (FS90R): 50 Hz frames, a 1.3 ms pulse turns it forward (1.5 ms
# would hold it still; no pulses at all lets it rest unpowered).
_SERVO_HZ = const(50)
_SERVO_TURN = const(4260)  # 1.3 ms of 20 ms as duty_u16
# After a turn the dose needs a moment to fall and the carousel to stop rocking; slot sensor
# changes meanwhile belong to the turn, not to a refill.
_SETTLE_MS = const(300)
_BUZZER_HZ = const(2700)  # resonance of common passive piezo buzzers: loudest per mA

# Reminder steps: for each level, the LED and the buzzer are on in the ticks whose bit is set
# in an 8-tick (2 s) pattern, at the level's loudness (duty_u16; 50 % is a piezo's loudest).
# Level 0 is light only, so a resident standing by the dispenser is not startled.
_LED_PATTERN = (0x0F, 0x33, 0x55, 0x55)
_BEEP_PATTERN = (0x00, 0x01, 0x05, 0x55)
_VOLUME = (0, 4096, 16384, 32768)
_LEVELS = const(4)


class DispenserRole(Role):
    NAME = "dispenser"
    CONFIG = ("dose_window_min", "reminder_step_s", "stock_low", "carousel_slots",
              "carousel_timeout_ms")
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
        self._wake = asyncio.ThreadSafeFlag()
        self._turning = False
        self._steps = 0  # index notches seen
        self._removed = False  # tray taken out since the last look
        self._refilled = False
        self._level = -1
        self._phase = 0
        self.schedule = self._load(_SCHEDULE) or {"since": None, "doses": []}
        self.log = self._load(_LOG) or {"tray": False, "doses": []}
        stock = self.storage.read(_STOCK)
        if stock is not None:
            self.stock = int(stock)
        else:  # first start: a carousel showing a dose is taken to be full
            self.stock = 0 if self.slot.value() else self.cfg["carousel_slots"]
        self.index.irq(self._on_index, IRQ_RISING)
        self.tray.irq(self._on_tray, IRQ_RISING)
        self.slot.irq(self._on_slot, IRQ_FALLING)

    def _load(self, name: str) -> "Any":
        data = self.storage.read(name)
        try:
            return json.loads(data) if data else None
        except ValueError:  # damaged record: start afresh rather than never dispense again
            print("dispenser: ignoring damaged record %s" % name)
            return None

    # -- interrupt handlers: note and wake the task, nothing more ------------------

    def _on_index(self, pin: "Any") -> None:
        self._steps += 1
        self._wake.set()

    def _on_tray(self, pin: "Any") -> None:
        self._removed = True
        self._wake.set()

    def _on_slot(self, pin: "Any") -> None:
        if not self._turning:  # a dose appeared with the carousel standing still: refilled
            self._refilled = True
            self._wake.set()

    # -- life cycle -------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            wait = await self._step()
            try:
                await asyncio.wait_for_ms(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def report(self, msg: "dict[str, Any]") -> None:
        msg["stock"] = min(self.stock, 255)

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        doses = msg["doses"]  # times and ranges already checked by protocol.messages
        seen = []
        for d in doses:
            if d[1] in seen:
                return "rejected", "dose id %d twice" % d[1]
            seen.append(d[1])
        self.schedule = {"since": self.device.clock.local(), "doses": doses}
        self.storage.write(_SCHEDULE, json.dumps(self.schedule))
        print("dispenser: schedule of %d doses" % len(doses))
        self._wake.set()
        return "ok", None

    def clock_changed(self) -> None:
        self._wake.set()

    # -- the dose cycle -------------------------------------------------------------------

    async def _step(self) -> int:
        """Bring doses, tray and reminders up to date; return ms until the next look."""
        if self._refilled:
            self._refilled = False
            self._set_stock(self.cfg["carousel_slots"])
            print("dispenser: refilled, stock %d" % self.stock)
        local = self.device.clock.local()
        if local is None:  # no time yet: nothing can fall due
            self._remind(-1)
            return _IDLE_MS
        log = self.log
        if self._removed or (log["tray"] and self.tray.value()):
            self._removed = False
            self._tray_emptied()
        if self.schedule["since"] is None:
            self.schedule["since"] = local
            self.storage.write(_SCHEDULE, json.dumps(self.schedule))
        next_due = self._fall_due(local)
        window = self.cfg["dose_window_min"] * 60
        first = None
        for entry in log["doses"]:
            state = entry[3]
            if state == _DONE:
                continue
            due = entry[0] * _DAY_S + entry[1] * 60
            if local >= due + window:
                self._finish(entry, "dose_missed")
                continue
            if state == _DUE and not log["tray"] and not self.tray.value():
                await self._dispense(entry)
                if entry[3] == _DONE:
                    continue
            if first is None or due < first:
                first = due
        if first is None:
            self._remind(-1)
            wait = (next_due - local) * 1000 if next_due is not None else _IDLE_MS
            return min(wait, _IDLE_MS)
        self._remind(min(_LEVELS - 1, (local - first) // self.cfg["reminder_step_s"]))
        return _TICK_MS

    def _fall_due(self, local: int) -> "int | None":
        """Start the doses that have fallen due; return the next due time (local s) or None."""
        day = local // _DAY_S
        since = self.schedule["since"]
        window = self.cfg["dose_window_min"] * 60
        log = self.log
        next_due = None
        changed = False
        for d in (day - 1, day, day + 1):
            for minute, dose_id in self.schedule["doses"]:
                due = d * _DAY_S + minute * 60
                if due > local:
                    if next_due is None or due < next_due:
                        next_due = due
                    continue
                if due <= since or self._logged(d, dose_id):
                    continue
                entry = [d, minute, dose_id, _DUE]
                log["doses"].append(entry)
                changed = True
                if local >= due + window:  # passed while the device was off or without time
                    entry[3] = _DONE
                    print("dispenser: dose %d missed while off" % dose_id)
                    self.device.emit("dose_missed", dose_id)
                else:
                    print("dispenser: dose %d due" % dose_id)
                    self.device.emit("dose_due", dose_id)
        if changed:
            log["doses"] = [e for e in log["doses"] if e[0] >= day - 1 or e[3] != _DONE]
            self._save_log()
        return next_due

    def _logged(self, day: int, dose_id: int) -> bool:
        return any(e[0] == day and e[2] == dose_id for e in self.log["doses"])

    def _save_log(self) -> None:
        self.storage.write(_LOG, json.dumps(self.log))

    def _finish(self, entry: "list[int]", event: str) -> None:
        entry[3] = _DONE
        self._save_log()
        print("dispenser: dose %d %s" % (entry[2], event[5:]))
        self.device.emit(event, entry[2])

    def _tray_emptied(self) -> None:
        log = self.log
        for entry in log["doses"]:
            if entry[3] == _DISPENSED:
                self._finish(entry, "dose_taken")
        if log["tray"]:
            log["tray"] = False
            self._save_log()

    async def _dispense(self, entry: "list[int]") -> None:
        if self.slot.value():  # no dose in the next compartment
            self.device.emit("dispenser_empty")
            self._set_stock(0)
            self._finish(entry, "dose_missed")
            return
        # Written before the carousel moves: after a reset mid-turn the dose counts as given,
        # which at worst misses a dose and never gives one twice.
        entry[3] = _DISPENSED
        self.log["tray"] = True
        self._save_log()
        if not await self._turn():
            self.log["tray"] = False
            self.device.emit("dispenser_jam")
            self._finish(entry, "dose_missed")
            return
        self._removed = False
        left = 0 if self.slot.value() else max(1, self.stock - 1)
        print("dispenser: dose %d dispensed, %d left" % (entry[2], left))
        threshold = self.cfg["stock_low"]
        if left <= threshold < self.stock:
            self.device.emit("stock_low", left)
        self._set_stock(left)

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

    def _set_stock(self, stock: int) -> None:
        if stock != self.stock:
            self.stock = stock
            self.storage.write(_STOCK, str(stock))

    def _remind(self, level: int) -> None:
        """Drive LED and buzzer for reminder ``level`` (-1: off) at the current tick."""
        if level != self._level:
            self._level = level
            self._phase = 0
            if level >= 0:
                print("dispenser: reminder level %d" % level)
        if level < 0:
            self.led.value(0)
            self.buzzer.duty_u16(0)
            return
        bit = 1 << self._phase
        self._phase = (self._phase + 1) % 8
        self.led.value(1 if _LED_PATTERN[level] & bit else 0)
        self.buzzer.duty_u16(_VOLUME[level] if _BEEP_PATTERN[level] & bit else 0)


ROLE = DispenserRole
