"""The HAL on the MicroPython unix port: a simulated ESP32-DevKitC.

Driven from outside the process (tests, the demo, ``trygg sim board``) over a
line-based control channel on 127.0.0.1, so the firmware runs unmodified while
something else plays the PIR, the pressure mat, the smoke alarm line or the
battery. Commands, one per line, each answered ``ok [value]`` or
``error: <what>``:

    pin <signal> <0|1>        set an input's level (edges fire its IRQ)
    pulse <signal> [ms]       level 1, then 0 after ms (default 100): a PIR pulse
    adc <signal> <0..65535>   set an ADC reading
    battery <mV>              set the supply voltage
    rssi <dBm>                set the Wi-Fi signal strength
    wifi <0|1>                access point reachable or not
    get <signal>              read an output: pin level, or "<freq> <duty_u16>" of a PWM
    heap                      "<bytes in use> <bytes free>" after a garbage collection,
                              as the device would report them (see below)
    hang <seconds>            block the event loop (a stuck task; the watchdog must fire)
    help                      this list on one line, with the signals the role has

A board wired for the dispenser also simulates its mechanics (hw/sim/carousel.py),
with the commands ``carousel`` and ``jam`` described there.

Environment (set by tools/sim/board.py):

    TRYGG_SIM_ROOT           the board's filesystem folder (default: current folder)
    TRYGG_SIM_CONTROL_PORT   control channel port; unset = no control channel
    TRYGG_SIM_RESET          reset cause of this start when none was recorded
                             (the launcher says power_on after a kill, hard after a reset)
    TRYGG_SIM_FLASH_HEAP     heap taken by the simulated flash (set by the ROMFS launcher)

A board running from ROMFS (tools/sim/board.py) has its image in a buffer on the
heap only because the unix port cannot map flash into memory: the launcher sizes
the process's heap so that the rest is exactly the device's, and the figures
here (``heap``, ``free_heap()`` in heartbeats) leave that buffer out, as the
device's would.

The software watchdog runs in its own thread (the port has _thread), so it
fires even when the event loop is blocked, like the ESP32's hardware timer.
On expiry it records the cause and ends the process with SIGUSR1; the
launcher restarts it, as the chip would restart itself.
"""

import asyncio
import os
import sys
import time

from micropython import const

from ..hal import DEEP_SLEEP, HARD, IRQ_FALLING, IRQ_RISING, POWER_ON, SOFT, WATCHDOG
from ..storage import Storage

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any, Literal

# Process exit codes the launcher (tools/sim/board.py) treats as "the chip restarted itself".
_REBOOT_EXIT_CODE = const(75)  # hal.reset(): reboot command, fatal error
_WATCHDOG_SIGNAL = const("USR1")  # watchdog expiry: signalled, whatever the process does
_RESET_RECORD = const("reset_cause")
_RTC_RECORD = const("rtc")  # the simulated RTC: offset from the host clock, kept across resets
_MAX_LINE = const(100)
_CAUSES = (POWER_ON, HARD, WATCHDOG, SOFT, DEEP_SLEEP)
# The reply to ``help``: one line, as every reply (a client reads one line per command).
_HELP = const("pin <signal> <0|1>; pulse <signal> [ms]; adc <signal> <0..65535>; "
              "battery <mV> (supply voltage); rssi <dBm>; wifi <0|1>; get <signal>; heap; "
              "hang <s>; help")


class SimSignal:
    """One simulated signal: an input or output line, an ADC channel or a PWM output.

    One class for all kinds keeps the simulator small in RAM; each kind uses its methods
    (pins: value/irq, ADC: read_u16, PWM: freq/duty_u16). Inputs change only through
    the control channel (:meth:`drive`); ``on_change(duty)`` lets a model of the role's
    mechanics follow a PWM output (hw/sim/carousel.py).
    """

    on_change: "Any" = None

    def __init__(self, level: int) -> None:
        self.level = level
        self.f = 0
        self._handler: Any = None
        self._trigger = 0

    def value(self, v: "int | None" = None) -> int:
        if v is not None:
            self.level = 1 if v else 0
        return self.level

    read_u16 = value

    def freq(self, hz: int) -> None:
        self.f = hz

    def duty_u16(self, d: int) -> None:
        self.level = d
        if self.on_change is not None:
            self.on_change(d)

    def irq(self, handler: "Any" = None, trigger: int = IRQ_RISING | IRQ_FALLING) -> None:
        self._handler = handler
        self._trigger = trigger

    def drive(self, level: int) -> None:
        old = self.level
        self.level = level
        if old != level and self._handler is not None and (
                self._trigger & (IRQ_RISING if level > old else IRQ_FALLING)):
            self._handler(self)


class SimFlag(asyncio.Event):
    """``asyncio.ThreadSafeFlag``'s interface on an ``asyncio.Event``: ``wait()`` clears it.

    The simulated board's IRQ handlers run inside the event loop (from the control channel's
    task), where an Event is safe and wakes its task at once. A ThreadSafeFlag would work too,
    but the unix port polls such non-socket objects in 1 ms steps whenever one is waited on,
    which costs ~1 ms on *every* pass of the scheduler: some 30 ms per stimulus-to-frame.
    """

    async def wait(self) -> "Literal[True]":
        await asyncio.Event.wait(self)
        self.clear()
        return True


class SimHal:
    def __init__(self) -> None:
        self.root = (os.getenv("TRYGG_SIM_ROOT") or ".").rstrip("/") + "/"
        self.storage = storage = Storage(self.root + "data")
        self.signals: dict[str, int] = {}
        self.sim: dict[str, SimSignal] = {}
        self.battery = 3300
        self.power = "battery"  # until use_board reads the board file
        self.signal_dbm = -55
        self.ap_up = True
        self.model: Any = None  # simulated mechanics of the role's hardware, if any
        self._wdt_timeout = 0
        self._wdt_fed: Any = 0
        self._flash_heap = int(os.getenv("TRYGG_SIM_FLASH_HEAP") or 0)
        recorded = storage.read(_RESET_RECORD)
        storage.delete(_RESET_RECORD)
        cause = recorded.decode() if recorded else os.getenv("TRYGG_SIM_RESET") or POWER_ON
        self._cause = cause if cause in _CAUSES else POWER_ON
        # The ESP32's RTC keeps counting through resets and deep sleep, not through a power cut
        # or the EN (hard reset) button.
        self.rtc_offset: Any = None
        if self._cause in (POWER_ON, HARD):
            storage.delete(_RTC_RECORD)
        else:
            rec = storage.read(_RTC_RECORD)
            self.rtc_offset = int(rec) if rec else None

    # -- Hal ---------------------------------------------------------------

    def use_board(self, board: str, role: str) -> None:
        from .. import boards

        # The board file's pin map decides which signal names exist, as on the real board.
        self.signals = boards.pins_for(board, role)
        self.power = boards.load(board).POWER
        idle = boards.load(board).IDLE_LEVELS
        for name in idle:
            if name in self.signals:
                self.sim[name] = SimSignal(idle[name])
        if "servo" in self.signals:  # a dispenser: its carousel's mechanics (hw/sim/carousel.py)
            from .carousel import Carousel

            model = self.model = Carousel(self.pin_in("index").drive, self.pin_in("slot").drive,
                                          self.root + "sim_carousel")

            def servo(duty: int) -> None:  # a turn takes no time here; a jam stops it
                if duty and model.leave():
                    model.arrive()

            self.pin_in("servo").on_change = servo

    def pin_in(self, signal: str, pull_up: bool = False) -> SimSignal:
        sig = self.sim.get(signal)
        if sig is None:
            if signal not in self.signals:
                raise ValueError("unknown signal %r (this role has: %s)" % (
                    signal, ", ".join(sorted(self.signals))))
            sig = self.sim[signal] = SimSignal(1 if pull_up else 0)
        return sig

    pin_out = adc = pin_in

    def pwm(self, signal: str, freq: int) -> SimSignal:
        sig = self.pin_in(signal)
        sig.f = freq
        return sig

    def flag(self) -> SimFlag:
        return SimFlag()

    def free_heap(self) -> int:
        import gc

        return gc.mem_free()

    def battery_mv(self) -> int:
        return self.battery

    def rssi(self) -> int:
        return self.signal_dbm if self.ap_up else -128

    def reset_cause(self) -> str:
        return self._cause

    def reset(self, cause: str = SOFT) -> None:
        self.storage.write(_RESET_RECORD, cause)
        print("sim: reset (%s)" % cause)
        sys.exit(_REBOOT_EXIT_CODE)

    def watchdog_start(self, timeout_ms: int) -> None:
        import _thread

        self._wdt_timeout = timeout_ms
        self._wdt_fed = time.ticks_ms()
        _thread.start_new_thread(self._watchdog, ())

    def watchdog_feed(self) -> None:
        self._wdt_fed = time.ticks_ms()

    def _watchdog(self) -> None:
        while time.ticks_diff(time.ticks_ms(), self._wdt_fed) < self._wdt_timeout:
            time.sleep_ms(20)
        self.storage.write(_RESET_RECORD, WATCHDOG)
        print("sim: watchdog reset")
        # A thread cannot end the process in MicroPython (sys.exit ends the thread only), so
        # the shell signals its parent, this process, exactly as a hardware reset would: at
        # once, whatever the main thread is blocked in.
        os.system("kill -%s $PPID" % _WATCHDOG_SIGNAL)

    def set_rtc(self, epoch_s: int) -> None:
        self.rtc_offset = epoch_s - int(time.time())
        self.storage.write(_RTC_RECORD, str(self.rtc_offset))

    def rtc(self) -> "int | None":
        return None if self.rtc_offset is None else int(time.time()) + self.rtc_offset

    def wifi_connected(self) -> bool:
        return self.ap_up

    async def wifi_connect(self, ssid: str, password: str, timeout_ms: int) -> bool:
        await asyncio.sleep_ms(0)
        return self.ap_up

    # -- control channel -------------------------------------------------------

    async def start(self) -> None:
        port = os.getenv("TRYGG_SIM_CONTROL_PORT")
        if port:
            await asyncio.start_server(self._client, "127.0.0.1", int(port))
            print("sim: control channel on 127.0.0.1:" + port)

    async def _client(self, reader: "Any", writer: "Any") -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:  # a bad command never ends the board
                    if len(line) > _MAX_LINE:
                        raise ValueError("line longer than %d bytes" % _MAX_LINE)
                    reply = await self.control(line.decode().split())
                except Exception as e:
                    reply = "error: %s" % (e,)
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def control(self, words: "list[str]") -> str:
        """Execute one control command (see the module docstring); return the reply."""
        n = len(words)
        cmd = words[0] if n else ""
        arg = words[1] if n > 1 else ""
        if cmd == "pin" and n == 3:
            self.pin_in(arg).drive(1 if int(words[2]) else 0)
        elif cmd == "pulse" and n in (2, 3):
            pin = self.pin_in(arg)
            pin.drive(1)
            await asyncio.sleep_ms(int(words[2]) if n == 3 else 100)
            pin.drive(0)
        elif cmd == "adc" and n == 3:
            value = int(words[2])
            if not 0 <= value <= 65535:
                raise ValueError("adc value %d outside 0..65535" % value)
            self.pin_in(arg).drive(value)
        elif cmd == "battery" and n == 2:
            self.battery = int(arg)
        elif cmd == "rssi" and n == 2:
            self.signal_dbm = int(arg)
        elif cmd == "wifi" and n == 2:
            self.ap_up = arg == "1"
        elif cmd == "get" and n == 2:
            sig = self.pin_in(arg)
            return "ok %d %d" % (sig.f, sig.level) if sig.f else "ok %d" % sig.level
        elif cmd == "heap":
            import gc

            gc.collect()
            return "ok %d %d" % (gc.mem_alloc() - self._flash_heap, gc.mem_free())
        elif cmd == "help":
            extra = "".join("; %s ..." % c for c in self.model.COMMANDS) if self.model else ""
            return "ok signals: %s | commands: %s%s" % (" ".join(sorted(self.signals)), _HELP,
                                                        extra)
        elif cmd == "hang" and n == 2:
            # Deliberately blocking: the stuck task the watchdog exists for.
            time.sleep(float(arg))  # noqa: ASYNC251
        elif self.model is not None and cmd in self.model.COMMANDS:
            return self.model.control(words)
        else:
            raise ValueError("unknown command or wrong arguments: %s (try: help)"
                             % " ".join(words))
        return "ok"
