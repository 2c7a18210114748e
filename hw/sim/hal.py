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
    heap                      "<bytes in use> <bytes free>" after a garbage collection
    hang <seconds>            block the event loop (a stuck task; the watchdog must fire)

A board wired for the dispenser also simulates its mechanics (hw/sim/carousel.py),
with the commands ``carousel`` and ``jam`` described there.

Environment (set by tools/simboard.py):

    TRYGG_SIM_ROOT           the board's filesystem folder (default: current folder)
    TRYGG_SIM_CONTROL_PORT   control channel port; unset = no control channel
    TRYGG_SIM_RESET          reset cause of this start when none was recorded
                             (the launcher says power_on after a kill, hard after a reset)

The software watchdog runs in its own thread (the port has _thread), so it
fires even when the event loop is blocked, like the ESP32's hardware timer.
On expiry it records the cause and ends the process with SIGUSR1; the
launcher restarts it, as the chip would restart itself.
"""

import asyncio
import os
import sys
import time

from ..hal import HARD, IRQ_FALLING, IRQ_RISING, POWER_ON, SOFT, WATCHDOG
from ..storage import Storage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Process exit codes the launcher (tools/simboard.py) treats as "the chip restarted itself".
REBOOT_EXIT_CODE = 75  # hal.reset(): reboot command, fatal error
WATCHDOG_SIGNAL = "USR1"  # watchdog expiry: the process is signalled, whatever it is doing
_RESET_RECORD = "reset_cause"
_RTC_RECORD = "rtc"  # the simulated RTC: offset from the host clock, kept across resets
_MAX_LINE = 100
_CAUSES = (POWER_ON, HARD, WATCHDOG, SOFT)


class SimSignal:
    """One simulated signal: an input or output line, an ADC channel or a PWM output.

    One class for all kinds keeps the simulator small in RAM; each kind uses its methods
    (pins: value/irq, ADC: read_u16, PWM: freq/duty_u16). Inputs change only through
    the control channel (:meth:`drive`).
    """

    def __init__(self, level: int) -> None:
        self.level = level
        self.f = 0
        self._handler: Any = None
        self._trigger = 0

    def value(self, v: "int | None" = None) -> int:
        if v is not None:
            self.level = 1 if v else 0
        return self.level

    def read_u16(self) -> int:
        return self.level

    def freq(self, hz: int) -> None:
        self.f = hz

    def duty_u16(self, d: int) -> None:
        self.level = d

    def irq(self, handler: "Any" = None, trigger: int = IRQ_RISING | IRQ_FALLING) -> None:
        self._handler = handler
        self._trigger = trigger

    def drive(self, level: int) -> None:
        old = self.level
        self.level = level
        if old == level or self._handler is None:
            return
        if self._trigger & (IRQ_RISING if level > old else IRQ_FALLING):
            self._handler(self)


class SimHal:
    platform = "sim"

    def __init__(self) -> None:
        root = os.getenv("TRYGG_SIM_ROOT") or "."
        self.root = root.rstrip("/") + "/"
        self.storage = Storage(self.root + "data")
        self.signals: dict[str, int] = {}
        self.sim: dict[str, SimSignal] = {}
        self.battery = 3300
        self.signal_dbm = -55
        self.ap_up = True
        self.model: Any = None  # simulated mechanics of the role's hardware, if any
        self._wdt_timeout = 0
        self._wdt_fed: Any = 0
        self._cause = self._read_reset_cause()
        # The ESP32's RTC keeps counting through resets and deep sleep, not through a power cut
        # or the EN (hard reset) button.
        self.rtc_offset: Any = None
        if self._cause in (POWER_ON, HARD):
            self.storage.delete(_RTC_RECORD)
        else:
            rec = self.storage.read(_RTC_RECORD)
            self.rtc_offset = int(rec) if rec else None

    def _read_reset_cause(self) -> str:
        recorded = self.storage.read(_RESET_RECORD)
        if recorded is not None:
            self.storage.delete(_RESET_RECORD)
            cause = recorded.decode()
        else:
            cause = os.getenv("TRYGG_SIM_RESET") or POWER_ON
        return cause if cause in _CAUSES else POWER_ON

    # -- Hal ---------------------------------------------------------------

    def use_board(self, board: str, role: str) -> None:
        from .. import boards

        # The board file's pin map decides which signal names exist, as on the real board.
        self.signals = boards.pins_for(board, role)
        idle = boards.load(board).IDLE_LEVELS
        for name in idle:
            if name in self.signals:
                self.sim[name] = SimSignal(idle[name])
        if "servo" in self.signals:
            from .carousel import Carousel

            self.model = Carousel(self)

    def pin_in(self, signal: str, pull_up: bool = False) -> SimSignal:
        sig = self.sim.get(signal)
        if sig is None:
            if signal not in self.signals:
                raise ValueError("unknown signal %r (this role has: %s)" % (
                    signal, ", ".join(sorted(self.signals))))
            sig = self.sim[signal] = SimSignal(1 if pull_up else 0)
        return sig

    def pin_out(self, signal: str) -> SimSignal:
        return self.pin_in(signal)

    def adc(self, signal: str) -> SimSignal:
        return self.pin_in(signal)

    def pwm(self, signal: str, freq: int) -> SimSignal:
        sig = self.pin_in(signal)
        sig.f = freq
        return sig

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
        self.storage.write(_RESET_RECORD, cause.encode())
        print("sim: reset (%s)" % cause)
        sys.exit(REBOOT_EXIT_CODE)

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
        self.storage.write(_RESET_RECORD, WATCHDOG.encode())
        print("sim: watchdog reset")
        # A thread cannot end the process in MicroPython (sys.exit ends the thread only), so
        # the shell signals its parent, this process, exactly as a hardware reset would: at
        # once, whatever the main thread is blocked in.
        os.system("kill -%s $PPID" % WATCHDOG_SIGNAL)

    def set_rtc(self, epoch_s: int) -> None:
        self.rtc_offset = epoch_s - int(time.time())
        self.storage.write(_RTC_RECORD, str(self.rtc_offset))

    def rtc(self) -> "int | None":
        if self.rtc_offset is None:
            return None
        return int(time.time()) + self.rtc_offset

    def wifi_connected(self) -> bool:
        return self.ap_up

    async def wifi_connect(self, ssid: str, password: str, timeout_ms: int) -> bool:
        await asyncio.sleep_ms(0)
        return self.ap_up

    # -- control channel -------------------------------------------------------

    async def start(self) -> None:
        port = os.getenv("TRYGG_SIM_CONTROL_PORT")
        if not port:
            return
        await asyncio.start_server(self._client, "127.0.0.1", int(port))
        print("sim: control channel on 127.0.0.1:%s" % port)

    async def _client(self, reader: "Any", writer: "Any") -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if len(line) > _MAX_LINE:
                    reply = "error: line longer than %d bytes" % _MAX_LINE
                else:
                    try:
                        reply = await self.control(line.decode().split())
                    except Exception as e:  # a bad command never ends the board
                        reply = "error: %s" % (e,)
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def control(self, words: "list[str]") -> str:
        """Execute one control command (see the module docstring); return the reply."""
        if not words:
            return "error: empty command"
        cmd = words[0]
        arg = words[1] if len(words) > 1 else ""
        if cmd == "pin" and len(words) == 3:
            self.pin_in(arg).drive(1 if int(words[2]) else 0)
        elif cmd == "pulse" and len(words) in (2, 3):
            pin = self.pin_in(arg)
            pin.drive(1)
            await asyncio.sleep_ms(int(words[2]) if len(words) == 3 else 100)
            pin.drive(0)
        elif cmd == "adc" and len(words) == 3:
            value = int(words[2])
            if not 0 <= value <= 65535:
                return "error: adc value %d outside 0..65535" % value
            self.pin_in(arg).drive(value)
        elif cmd == "battery" and len(words) == 2:
            self.battery = int(arg)
        elif cmd == "rssi" and len(words) == 2:
            self.signal_dbm = int(arg)
        elif cmd == "wifi" and len(words) == 2:
            self.ap_up = arg == "1"
        elif cmd == "get" and len(words) == 2:
            sig = self.pin_in(arg)
            if sig.f:
                return "ok %d %d" % (sig.f, sig.level)
            return "ok %d" % sig.level
        elif cmd == "heap":
            import gc

            gc.collect()
            return "ok %d %d" % (gc.mem_alloc(), gc.mem_free())
        elif cmd == "hang" and len(words) == 2:
            # Deliberately blocking: the stuck task the watchdog exists for.
            time.sleep(float(arg))  # noqa: ASYNC251
        elif self.model is not None and cmd in self.model.COMMANDS:
            return self.model.control(words)
        else:
            return "error: unknown command or wrong arguments: %s" % " ".join(words)
        return "ok"
