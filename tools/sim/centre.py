"""The alarm receiving centre of a home on this machine, in any of the hub's centre protocols:
the console(s) it takes, the ``[[arc.receivers]]`` table the hub needs to reach it, and what
arrives there in words every protocol shares. ``trygg demo`` and ``trygg bench e2e`` use it.

- ``scaip``: a real kamailio (Debian package) as the SIP registrar and proxy, with Digest
  users for the hub's controller id and the centre, and the SCAIP console registered behind
  it (tools/sim/scaip_console.py). The hub's Digest password is in a file of mode 0600, as a
  technician keeps it.
- ``dc09``: pysiaalarm, the independent SIA DC-09 receiver (tools/sim/arc_console.py).
- ``sos-access``: the SOS Access v4 console (tools/sim/sos_access_console.py), the
  transmitter's password in a file of mode 0600.

Every alarm or restore that reaches the console (a DC-09 message it acknowledged, a SCAIP
``<mrq>`` event, an SOS Access ``<alarmrequest>``) becomes one :class:`Arrival`, in arrival
order, and is passed to ``on_arrival``; link tests and heartbeats are not arrivals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from trygg.hub.private_files import write_secret
from trygg.tools.sim.mosquitto import free_port

PROTOCOLS = ("scaip", "dc09", "sos-access")
DEFAULT = "scaip"
TITLES = {"scaip": "SCAIP through kamailio", "dc09": "SIA DC-09", "sos-access": "SOS Access v4"}

# Identities on the simulated centre's side (a real centre gives the home these).
SCAIP_CID = "4670001"  # the hub's controller id, its SIP user name
SCAIP_CENTRE = "alarm"  # the centre's SIP user
SOS_TRANSMITTER_CODE, SOS_TRANSMITTER_TYPE, SOS_RECEIVER = "7001234", "TRYGG", "1"


@dataclass(frozen=True)
class Arrival:
    """One alarm, restore or test as the centre received it."""

    protocol: str
    kind: str | None  # the Trygg kind the console read (None: a code it does not know)
    event: str | None  # raised | resolved | test
    zone: int | None
    room: str | None
    code: str  # the event code on the wire: SIA "FA"; SCAIP "0023/0009" (dty/stc); SOS "FA AL"
    wire_id: str  # the message as the centre knows it: "seq 0031", "ref 31", "reference T31-..."
    line: str  # what the operator's console printed
    received_at: float  # epoch seconds, at the console
    at: float  # time.monotonic() at the console, for latencies within this process

    @property
    def is_notice(self) -> bool:
        """The forwarder's own notice about a receiver link, not the resident's alarm."""
        return self.kind == "receiver_unreachable"


def _secret_file(path: Path, secret: str) -> str:
    write_secret(path, secret)
    return str(path)


class Centre:
    """The centre for ``protocol`` with its files in ``folder``. ``accounts``: DC-09
    accounts the receiver takes (the resident's, the hub's). ``answer`` (SCAIP, SOS Access):
    what the console answers, as ``trygg arc listen --answer`` takes it (default: accept)."""

    def __init__(self, protocol: str, folder: Path, *, accounts: Sequence[str] = (),
                 on_arrival: Callable[[Arrival], None] | None = None,
                 answer: str | None = None) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"centre protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
        self.protocol = protocol
        self.folder = folder
        self.accounts = tuple(accounts)
        self.on_arrival = on_arrival
        self.answer = answer
        self.arrivals: list[Arrival] = []
        self.port = 0
        self._console: Any = None
        self._server: Any = None  # kamailio, for SCAIP
        self._secrets: dict[str, str] = {}

    @property
    def title(self) -> str:
        return TITLES[self.protocol]

    def describe(self) -> str:
        """Where the centre is, for a person."""
        if self.protocol == "scaip":
            return (f"SCAIP centre console (user {SCAIP_CENTRE}) behind kamailio, the SIP "
                    f"registrar and proxy with Digest, on udp://127.0.0.1:{self.port}")
        if self.protocol == "dc09":
            return f"SIA DC-09 centre console (pysiaalarm) on tcp://127.0.0.1:{self.port}"
        return f"SOS Access v4 centre console on tcp://127.0.0.1:{self.port}"

    # -- life cycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Centre:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the console (and for SCAIP kamailio first), again after ``stop()`` on the
        same port; RuntimeError, OSError or FileNotFoundError (kamailio, PJSIP) say what is
        missing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.protocol == "scaip":
            await self._start_scaip()
        elif self.protocol == "dc09":
            from trygg.tools.sim.arc_console import ArcConsole

            if self.answer is not None:
                raise ValueError("the DC-09 console acknowledges every message it can read")
            self.port = self.port or free_port()
            self._console = ArcConsole(self.port, [(a, None) for a in self.accounts],
                                       on_event=self._dc09)
            await self._console.start()
        else:
            from trygg.tools.sim.sos_access_console import SosAccessConsole, answer_status

            status = None if self.answer is None else answer_status(self.answer)
            fixed = None if status is None else (status, "")
            password = self._secrets.setdefault("sos", "trygg-demo-0001")
            self.port = self.port or free_port()
            self._console = SosAccessConsole(
                self.port, {SOS_TRANSMITTER_CODE: password},
                answer=(lambda _request: fixed), on_event=self._sos)
            await self._console.start()

    async def _start_scaip(self) -> None:
        from trygg.hub.arc import scaip_sip
        from trygg.tools.sim.kamailio import Kamailio
        from trygg.tools.sim.scaip_console import AnswerPolicy, ScaipConsole

        if not scaip_sip.available():
            raise RuntimeError(scaip_sip.BUILD_HINT)
        hub_password = self._secrets.setdefault("hub", "hub-" + _random_text())
        centre_password = self._secrets.setdefault("centre", "centre-" + _random_text())
        if self._server is None:
            self._server = Kamailio({SCAIP_CID: hub_password, SCAIP_CENTRE: centre_password},
                                    workdir=self.folder / "kamailio")
            self.port = self._server.port
        await asyncio.to_thread(self._server.start)
        policy = AnswerPolicy.parse(self.answer or "ok")
        self._console = ScaipConsole(self._server.host, self.port, user=SCAIP_CENTRE,
                                     password=centre_password, policy=policy,
                                     on_event=self._scaip)
        await self._console.start()

    async def stop(self) -> None:
        """The centre goes down (the console, and for SCAIP kamailio too); ``start()`` brings
        it back on the same port."""
        console, self._console = self._console, None
        if console is not None:
            await console.stop()
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)

    async def close(self) -> None:
        await self.stop()
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.close)

    @property
    def sip_server(self) -> Any:
        """SCAIP: the kamailio between the hub and the centre (a test stops or kills it)."""
        return self._server

    @property
    def console(self) -> Any:
        """The running console (ScaipConsole, ArcConsole, SosAccessConsole), or None."""
        return self._console

    # -- the hub's side --------------------------------------------------------------------

    def receiver(self, name: str = "centre", **settings: Any) -> dict[str, Any]:
        """The ``[[arc.receivers]]`` table that reaches this centre (call after start());
        ``settings``: more of the protocol's keys (timings)."""
        if not self.port:
            raise RuntimeError("Centre.receiver(): start the centre first")
        table: dict[str, Any] = {"name": name, "protocol": self.protocol,
                                 "host": "127.0.0.1", "port": self.port}
        if self.protocol == "scaip":
            table.update(transport="udp", cid=SCAIP_CID, centre=SCAIP_CENTRE,
                         local_host="127.0.0.1",
                         password_file=_secret_file(self.folder / "scaip-password",
                                                    self._secrets["hub"]))
        elif self.protocol == "sos-access":
            table.update(transmitter_code=SOS_TRANSMITTER_CODE,
                         transmitter_type=SOS_TRANSMITTER_TYPE, receiver_id=SOS_RECEIVER,
                         authentication_file=_secret_file(self.folder / "sos-authentication",
                                                          self._secrets["sos"]))
        table.update(settings)
        return table

    # -- what arrives ----------------------------------------------------------------------

    def _arrived(self, kind: str | None, event: str | None, zone: int | None,
                 room: str | None, code: str, wire_id: str, line: str,
                 received_at: float) -> None:
        arrival = Arrival(self.protocol, kind, event, zone, room, code, wire_id, line,
                          received_at, time.monotonic())
        self.arrivals.append(arrival)
        if self.on_arrival is not None:
            self.on_arrival(arrival)

    def _dc09(self, event: Any) -> None:
        if event.is_link_test:
            return
        code = (str(event.code) if event.cid_event is None
                else f"{event.cid_qualifier}{event.cid_event:03d}")
        self._arrived(event.kind, event.event, event.zone, event.room, code,
                      f"seq {event.sequence:04d}", event.operator_line(), event.received_at)

    def _scaip(self, event: Any) -> None:
        if event.event is None:  # a heartbeat, a reset or a rejected message
            return
        mrq = event.mrq
        stc = "-" if mrq.stc is None else f"{mrq.stc:04d}"
        self._arrived(event.kind, event.event, mrq.lco, mrq.lte, f"{mrq.dty:04d}/{stc}",
                      f"ref {mrq.ref}", event.operator_line(), event.received_at)

    def _sos(self, request: Any) -> None:
        if request.is_link_test:
            return
        section = request.fields.get("section", "")
        self._arrived(request.kind, "test" if request.kind == "test" else request.event,
                      int(section) if section.isdigit() else None,
                      request.fields.get("sectiontext"),
                      f"{request.fields.get('eventcode')} {request.fields.get('alarmtype', 'AL')}",
                      f"reference {request.reference}", request.operator_line(),
                      request.received_at)


def _random_text() -> str:
    import secrets

    return secrets.token_hex(8)
