"""Shared pieces of the SCAIP tests: a kamailio with the hub's and the centre's users, the
hub's SCAIP receiver table, and the skip when PJSIP or kamailio is not installed."""

from __future__ import annotations

from typing import Any

import pytest

from trygg.hub.arc import scaip_sip
from trygg.tools.sim.kamailio import find_kamailio

CID = "4670001"  # the hub's controller id, its SIP user
CID_PASSWORD = "hub-secret-1"
CENTRE = "alarm"
CENTRE_PASSWORD = "centre-secret-2"
# A second centre for failover tests. It has a user name of its own: its console runs in the
# same process as the first, on the same SIP transport, and PJSIP hands an incoming MESSAGE to
# the account whose user it names (two real centres are two hosts).
SECOND_CENTRE = "alarm2"
USERS = {CID: CID_PASSWORD, CENTRE: CENTRE_PASSWORD, SECOND_CENTRE: CENTRE_PASSWORD}

# Short SCAIP timings so HOLD and outage tests finish in seconds (defaults in
# hub/arc/protocols/scaip.py).
FAST_SCAIP = {"response_timeout": 2.0, "hold_interval": 0.1, "hold_max": 30.0,
              "register_retry": 1}



def _kamailio_installed() -> bool:
    try:
        find_kamailio()
    except FileNotFoundError:
        return False
    return True


needs_sip = pytest.mark.skipif(
    not scaip_sip.available() or not _kamailio_installed(),
    reason="needs PJSIP's Python binding (pjsua2-python, x86_64 wheels; see "
    "hub/arc/scaip_sip.py to build it elsewhere) and kamailio (Debian package, tools/dev)")


def scaip_receiver(name: str, port: int, **extra: Any) -> dict[str, Any]:
    """A ``[[arc.receivers]]`` table for a SCAIP centre behind the kamailio on ``port``."""
    return {"name": name, "host": "127.0.0.1", "port": port, "protocol": "scaip",
            "transport": "udp", "cid": CID, "password": CID_PASSWORD, "centre": CENTRE,
            "local_host": "127.0.0.1", **FAST_SCAIP, **extra}
