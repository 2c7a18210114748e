"""Settings the hub may change while the device runs: where they are kept, the rule across them.

Shared by the validation at boot (firmware/config.py) and the running device's set_config
(firmware/device.py), which must not load all of config.py for it: that is ~8 KB of heap,
wanted at the moment a command is being handled, when the heap may be too fragmented for it.
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

OVERRIDES = "config"  # storage record with the settings changed by the hub, JSON


def conflict(cfg: "dict[str, Any]", changes: "dict[str, Any] | None" = None) -> "str | None":
    """The rule across keys that ``cfg`` with ``changes`` laid over it breaks, as
    ``"<key>: <what is wrong>"``, or None. (No merged copy: a configuration dict is ~1 KB.)"""
    changes = changes or {}
    enter = changes.get("bed_enter_level", cfg["bed_enter_level"])
    if changes.get("bed_exit_level", cfg["bed_exit_level"]) >= enter:
        return "bed_exit_level: must be below bed_enter_level (%d) for hysteresis" % enter
    return None
