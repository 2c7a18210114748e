"""The centre protocols the hub speaks, by the name a receiver gives in ``[[arc.receivers]]``.

To add a protocol: write ``hub/arc/protocols/<name>.py`` with a ``PROTOCOL``
(:class:`trygg.hub.arc.protocol.CentreProtocol`), add one line below, its tests under
``tests/arc/`` and its section in the README. Modules are imported when a receiver names
them, so a protocol's dependencies (a SIP stack, say) cost nothing to a hub that does not use
it.
"""

from __future__ import annotations

import importlib

from ..protocol import CentreProtocol

# protocol name -> module (relative to this package). The first is the default.
REGISTERED: dict[str, str] = {
    "dc09": ".dc09",
    "scaip": ".scaip",
    "sos-access": ".sos_access",
}

DEFAULT = "dc09"


class UnknownProtocol(KeyError):
    pass


def names() -> tuple[str, ...]:
    return tuple(REGISTERED)


def get(name: str) -> CentreProtocol:
    """The protocol registered as ``name`` (UnknownProtocol if none)."""
    module_name = REGISTERED.get(name)
    if module_name is None:
        raise UnknownProtocol(name)
    module = importlib.import_module(module_name, __name__)
    protocol = module.PROTOCOL
    if not isinstance(protocol, CentreProtocol) or protocol.name != name:
        raise TypeError(f"{module.__name__}.PROTOCOL is not the CentreProtocol {name!r}")
    return protocol


def all_protocols() -> list[CentreProtocol]:
    return [get(name) for name in REGISTERED]
