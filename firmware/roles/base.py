"""The life cycle every device role shares (the ESPHome component model).

A role is one module here that declares, as class attributes, everything the rest of the
firmware needs to know about it, and implements the life cycle:

``URGENT``, ``REPORT``
    The events it reports that are sent ahead of everything queued and never held off
    (URGENT: a fire, a call for help), and those that may be dropped when the outbox
    overflows (REPORT: routine). Every other event of the role is an alarm-class event,
    never dropped (firmware/outbox.py).
``SIGNALS``
    The signal names it claims from the HAL; every board file wires them to pins
    (hw/boards/), and boot refuses a board that does not.
``CONFIG``
    Its settings with their defaults, validated before anything runs
    (firmware/config.py): ``name: default`` for a setting the hub may change
    (its range is protocol.messages.CONFIG_KEYS), ``name: (default, lo, hi)`` for an
    integer local to the device. A comment next to each says why the default. The
    settings of its link (``link`` below) are declared once, by the link class's own
    ``CONFIG`` (EspNowLink's in firmware/espnow.py), and every role on that link has them:
    a role does not repeat them.
``COMMANDS``
    The hub commands it handles in ``command()``.

These are plain literals: the hub and the tools read them from this source without running
it (trygg.hub.roles), and a test compares what they read with what MicroPython sees.

``conflict(cfg, changes)`` checks a rule across the role's settings (at boot and on every
set_config). ``setup()`` claims the role's signals from the HAL; ``run()`` is the role's
task for as long as the device runs; ``report(msg)`` adds the role's fields to a heartbeat;
``command(msg)`` handles the role's commands and returns ``(status, detail)``;
``config_changed()`` re-reads settings after a set_config; ``clock_changed()`` follows the
hub's set_time; ``tick()`` is called once a second (from the watchdog feeder) for roles that
keep time without a timer task of their own.

State that must survive a reboot or (later) a deep sleep goes to
``device.storage``, never module globals.
"""

import asyncio

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


class Role:
    NAME = ""
    URGENT: "tuple[str, ...]" = ()
    REPORT: "tuple[str, ...]" = ()
    SIGNALS: "tuple[str, ...]" = ()
    CONFIG: "dict[str, Any]" = {}
    COMMANDS: "tuple[str, ...]" = ()
    # A role on another transport than Wi-Fi (firmware/mqtt.py) sets ``link`` to its class:
    # EspNowLink (firmware/espnow.py: a battery device that wakes, sends through the bridge
    # and sleeps; firmware/wake.py lists what such a role adds to this life cycle) or
    # SerialLink (firmware/serial_link.py: the bridge itself, on the hub's USB port); the
    # link class's ``CONFIG``, if it has one, adds its settings to the role's. Not
    # declared here, and found by names a Wi-Fi device has anyway: every name is interned in
    # its heap for good (tests/firmware/test_heap.py).

    @staticmethod
    def conflict(cfg: "dict[str, Any]", changes: "dict[str, Any]") -> "str | None":
        """The rule across settings that ``cfg`` with ``changes`` laid over it breaks, as
        ``"<key>: <what is wrong>"``, or None. (No merged copy: a configuration is ~1 KB.)"""
        return None

    def __init__(self, device: "Any") -> None:
        self.device = device
        self.hal = device.hal
        self.cfg = device.cfg

    def setup(self) -> None:
        pass

    async def run(self) -> None:
        await asyncio.Event().wait()  # a role with nothing to do runs forever

    def report(self, msg: "dict[str, Any]") -> None:
        pass

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        return "unsupported", "role " + self.NAME

    def config_changed(self) -> None:
        pass

    def clock_changed(self) -> None:
        pass

    def tick(self) -> None:
        pass
