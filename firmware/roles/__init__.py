"""Device roles: one module each, sharing the life cycle of roles/base.py.

Adding a role = a new module here defining ``ROLE`` (a base.Role subclass) and
one line in REGISTRY (role name -> module), plus its wiring in the board files.
The role name must be one of protocol.messages.ROLES.
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

REGISTRY = {
    "motion": "motion",
    "bed": "bed",
    "smoke": "smoke",
    "dispenser": "dispenser",
}


def create(name: str, device: "Any") -> "Any":
    """Import the role's module (only that one: RAM) and return its Role instance."""
    module = __import__("firmware.roles." + REGISTRY[name], None, None, ("ROLE",))
    return module.ROLE(device)
