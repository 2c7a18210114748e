"""SCAIP for ``trygg bench arc``: a centre behind a real kamailio. The figure is raised to
acceptance (the centre's <mrs> with snu 0, not SIP's 200). Without PJSIP's binding or
kamailio the SCAIP rows are left out, and ``unavailable()`` says why."""

from __future__ import annotations

from typing import Any

from trygg.hub.arc import scaip_sip
from trygg.tools.sim.kamailio import Kamailio, find_kamailio
from trygg.tools.sim.scaip_console import ScaipConsole

CID = "4670001"
CENTRE = "alarm"
USERS = {CID: "bench-hub", CENTRE: "bench-centre"}


def unavailable() -> str | None:
    """Why SCAIP cannot be measured here, or None."""
    if not scaip_sip.available():
        return scaip_sip.BUILD_HINT
    try:
        find_kamailio()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def receiver(port: int, transport: str) -> dict[str, Any]:
    """The hub's receiver table for the centre behind the kamailio on ``port``."""
    return {"name": "arc", "host": "127.0.0.1", "port": port, "protocol": "scaip",
            "transport": transport, "cid": CID, "password": USERS[CID], "centre": CENTRE,
            "local_host": "127.0.0.1", "response_timeout": 5.0}


class ScaipCentre:
    """The SIP server and the centre's console on ``port``: up together, down together
    (for the drain figure, the outage is the whole centre side)."""

    def __init__(self, port: int) -> None:
        self.server = Kamailio(USERS, port=port)
        self.console = ScaipConsole(self.server.host, port, user=CENTRE,
                                    password=USERS[CENTRE])

    async def start(self) -> None:
        self.server.start()
        await self.console.start()

    async def stop(self) -> None:
        await self.console.stop()
        self.server.close()

    def resident_alarms(self) -> int:
        """Alarms the centre accepted, other than the forwarder's own link notices."""
        return len({e.mrq.ref for e in self.console.alarms()
                    if e.mrq and e.snu == 0 and e.kind != "receiver_unreachable"})
