"""Device roles: one module each, sharing the life cycle of roles/base.py.

A role named ``<name>`` in protocol.messages.ROLES is the module ``firmware/roles/<name>.py``
defining ``ROLE`` (a base.Role subclass that declares its events, signals, settings and
commands). Nothing here lists the roles: the protocol's list is the one list, and a device
imports only its own role's module (RAM).
"""

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


def load(name: str) -> "Any":
    """The Role class of role ``name`` (already checked against protocol.messages.ROLES);
    ImportError when this firmware has no module for it."""
    return __import__("firmware.roles." + name, None, None, ("ROLE",)).ROLE


def create(name: str, device: "Any") -> "Any":
    """Return role ``name``'s Role instance for ``device``."""
    return load(name)(device)
