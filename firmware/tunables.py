"""Where the settings the hub changes while the device runs are kept.

Shared by the validation at boot (firmware/config.py) and the running device's set_config
(firmware/device.py), which must not load all of config.py for it: that is ~8 KB of heap,
wanted at the moment a command is being handled, when the heap may be too fragmented for it.
Rules across a role's settings are the role's own (``Role.conflict``).
"""

OVERRIDES = "config"  # storage record with the settings changed by the hub, JSON
