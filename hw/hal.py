"""The hardware abstraction layer: the one interface drivers and role logic see.

Two implementations, chosen at boot by :func:`hw.select.hal_for_platform`:
``hw.esp32`` (``machine``, ``esp32``, ``network`` on an ESP32) and ``hw.sim``
(the MicroPython unix port, driven over a loopback control channel by tests,
the demo and ``trygg sim board``).

Hardware is addressed by *signal name* (``"pir"``, ``"bed"``, ``"smoke_alarm"``),
never by pin number: the board file (``hw/boards/<board>.py``) maps each role's
signal names to GPIOs, so the same role code runs on any wiring.

Objects handed out:

* input pin: ``value() -> 0|1``, ``irq(handler, trigger)``; ``handler(pin)``
  runs in scheduler context (ESP32 soft IRQ; on the sim, in the event loop),
  so it may allocate but must be short. It wakes its task through a flag from
  :meth:`Hal.flag`, never an ``asyncio.Event`` (not safe from an IRQ).
* output pin: ``value(v)``.
* ADC: ``read_u16() -> 0..65535``.
* PWM: ``freq(hz)``, ``duty_u16(d)`` (servo pulses, buzzer tones).
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any, Protocol

# Edge selectors, numerically equal to machine.Pin.IRQ_RISING / IRQ_FALLING on the ESP32.
IRQ_RISING = const(1)
IRQ_FALLING = const(2)

# Values of reset_cause(), a subset of protocol.messages.RESET_CAUSES.
POWER_ON = "power_on"
HARD = "hard"
WATCHDOG = "watchdog"
DEEP_SLEEP = "deep_sleep"
SOFT = "soft"
UNKNOWN = "unknown"


if TYPE_CHECKING:
    # The interface exists for the type checkers only: on the device a base class would cost
    # heap for nothing, so implementations do not inherit from it (structural typing).
    class Hal(Protocol):
        """Interface; every method is implemented by hw.esp32.hal and hw.sim.hal."""

        # Folder that holds the provisioning file; storage lives in <root>data/.
        root: str
        # Persistent records (hw.storage.Storage), set by each implementation.
        storage: "Any"
        # What powers the board ("mains" | "battery"), the board file's POWER, set by
        # use_board (kept as a string: boot drops the board files afterwards).
        power: str

        def use_board(self, board: str, role: str) -> None:
            """Load the board file's wiring for ``role`` and its ``power``; ValueError if
            there is none."""
            raise NotImplementedError

        async def start(self) -> None:
            """Start background services (the sim's control channel); call once in the loop."""
            raise NotImplementedError

        def pin_in(self, signal: str, pull_up: bool = False) -> "Any":
            raise NotImplementedError

        def pin_out(self, signal: str) -> "Any":
            raise NotImplementedError

        def adc(self, signal: str) -> "Any":
            raise NotImplementedError

        def pwm(self, signal: str, freq: int) -> "Any":
            raise NotImplementedError

        def battery_mv(self) -> int:
            """Supply voltage in mV, measured through the board's divider."""
            raise NotImplementedError

        def flag(self) -> "Any":
            """A flag an IRQ handler sets to wake a task: ``set()``, ``clear()`` and
            ``await wait()`` (which clears it), as ``asyncio.ThreadSafeFlag``."""
            raise NotImplementedError

        def rssi(self) -> int:
            """Wi-Fi signal in dBm (-128..0); -128 when not associated."""
            raise NotImplementedError

        def free_heap(self) -> int:
            """gc.mem_free() on both."""
            raise NotImplementedError

        def reset_cause(self) -> str:
            raise NotImplementedError

        def reset(self, cause: str = SOFT) -> None:
            """Restart the device now (remembering ``cause`` where the chip cannot)."""
            raise NotImplementedError

        def watchdog_start(self, timeout_ms: int) -> None:
            raise NotImplementedError

        def watchdog_feed(self) -> None:
            raise NotImplementedError

        def set_rtc(self, epoch_s: int) -> None:
            """Set the real-time clock to UTC epoch seconds (1970)."""
            raise NotImplementedError

        def rtc(self) -> "int | None":
            """UTC epoch seconds from the real-time clock; None when it was never set or was
            lost (power cut: the ESP32's RTC survives resets and deep sleep, not power loss)."""
            raise NotImplementedError

        def wifi_connected(self) -> bool:
            raise NotImplementedError

        async def wifi_connect(self, ssid: str, password: str, timeout_ms: int) -> bool:
            """Associate with the access point; False if not connected within the timeout."""
            raise NotImplementedError

    class LowPower(Protocol):
        """Battery devices and the bridge only: ESP-NOW and deep sleep, from
        hw.low_power.of(hal) (hw/esp32/low_power.py, hw/sim/low_power.py); kept out of
        Hal so that a Wi-Fi device holds none of it."""

        def radio(self, mac: bytes, channel: int, always_on: bool = False) -> "Any":
            """ESP-NOW with this MAC on this channel (hw/esp32/radio.py describes it)."""
            raise NotImplementedError

        def deep_sleep(self, ms: int, signal: "str | None" = None, level: int = 1) -> None:
            """Sleep for ``ms`` (0: until the pin) or until ``signal`` is at ``level``; the
            device then starts again from /main.py with RTC memory kept (never returns)."""
            raise NotImplementedError

        def wake_cause(self) -> "str | None":
            """After deep sleep: ``"timer"`` or ``"pin"``; None after any other start."""
            raise NotImplementedError

        def rtc_memory(self, data: "bytes | None" = None) -> bytes:
            """RTC memory (kept through deep sleep, lost in a power cut): write ``data``, or
            read it (b"" when lost)."""
            raise NotImplementedError

        def sleep_clock_ms(self) -> int:
            """Milliseconds that keep counting through deep sleep (the RTC), not a power cut."""
            raise NotImplementedError
