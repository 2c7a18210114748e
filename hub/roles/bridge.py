"""ESP-NOW bridge on the hub's USB port (firmware/roles/bridge.py, hub/bridge.py)."""

from . import RoleDescription

ROLE = RoleDescription(
    name="bridge",
    title="ESP-NOW bridge for battery devices (on the hub's USB port)",
    walk_hint="nothing to do: it passes the walk test by its hello",
    pass_events=(),
    stimuli=(),
    cell="none",  # the hub's USB port; what it measures is that supply
)
