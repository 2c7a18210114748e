"""An SOS Access v4 receiving-centre console: ``trygg arc listen --protocol sos-access``.

Technicians use it to check a hub's SOS Access link before the operator's receiver is
reachable; the tests use it as the centre, and check it against the independent client on
PyPI (``sos-access``). It answers each request as the protocol's description says (status
and info, module ``trygg.hub.arc.protocols.sos_access``), checks the transmitter's
password, detects duplicates by reference, issues new passwords on
``requestnewauthentication`` (never printing them), and can be told to answer otherwise
(``--answer not-treated`` or ``--answer 5``: "not treated, use failover") to exercise a
hub's failover.

Every input is hostile: a document that is not well-formed, too large, too slow (read
timeout), or has DOCTYPE or entities is answered with its status where that is possible and
counted in ``rejected``; nothing a client sends ends the console.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from trygg.hub.arc.protocols import sos_access as sos
from trygg.hub.private_files import read_secret
from trygg.hub.rules.alarm_kinds import KINDS

# A client gets this long to send its whole request: a slow or stalled sender cannot hold a
# connection (and its memory) for longer.
READ_TIMEOUT_S = 10.0
# Connections served at once; more wait in the listen backlog.
MAX_CONNECTIONS = 64

Answer = Callable[["SosRequest"], tuple[int, str] | None]


@dataclass(frozen=True)
class SosRequest:
    """One request the console took (any status), in the terms an operator uses."""

    received_at: float
    request: str  # alarmrequest | pingrequest | requestnewauthentication
    transmitter_code: str
    transmitter_type: str
    reference: str | None
    fields: dict[str, str]
    status: int
    info: str

    @property
    def is_link_test(self) -> bool:
        return self.request != "alarmrequest"

    @property
    def event(self) -> str:
        return "resolved" if self.fields.get("alarmtype") == "RE" else "raised"

    @property
    def kind(self) -> str | None:
        """The Trygg kind: the event code, told apart by the detector text where codes are
        shared."""
        code = self.fields.get("eventcode")
        candidates = [k for k, c in sos.EVENT_CODES.items() if c == code]
        for name in candidates:
            if KINDS[name].title == self.fields.get("detectortext"):
                return name
        return candidates[0] if candidates else None

    def operator_line(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.received_at))
        parts = [when, f"transmitter {self.transmitter_code}"]
        wire = f"status {self.status} {self.info}, reference {self.reference or '-'}"
        if self.request == "pingrequest":
            return " | ".join([*parts, "heartbeat (pingrequest)", wire])
        if self.request == "requestnewauthentication":
            return " | ".join([*parts, "new password requested", wire])
        section = self.fields.get("section", "?")
        where = f"section {section}"
        if self.fields.get("sectiontext"):
            where += f", {self.fields['sectiontext']}"
        parts.append(where)
        kind = KINDS.get(self.kind or "")
        if kind is None:
            parts.append(f"UNKNOWN EVENT {self.fields.get('eventcode')!r}: look it up in the "
                         "operator's code list")
        elif kind.klass == "test":
            parts += [kind.title, kind.urgency]
        elif self.event == "resolved":
            parts += [f"{kind.title} RESOLVED", kind.restore]
        else:
            parts += [f"{kind.title} ALARM", f"urgency {kind.priority} {kind.urgency}",
                      kind.meaning]
        parts.append(f"eventcode {self.fields.get('eventcode')} "
                     f"{self.fields.get('alarmtype', 'AL')}, {wire}")
        return " | ".join(parts)


class SosAccessConsole:
    """An SOS Access v4 receiver on ``host:port`` for ``credentials`` {transmitter code:
    password}. ``answer(request)`` may override the status of an alarm request that passed
    every check ((status, info), or None for the usual answer)."""

    def __init__(self, port: int, credentials: dict[str, str], *, host: str = "127.0.0.1",
                 answer: Answer | None = None, heartbeat_service: bool = True,
                 min_ping_interval: float = 0.0,
                 on_event: Callable[[SosRequest], None] | None = None) -> None:
        self.port = port
        self.host = host
        self.credentials = dict(credentials)
        self.answer = answer
        self.heartbeat_service = heartbeat_service
        self.min_ping_interval = min_ping_interval
        self.on_event = on_event
        self.events: list[SosRequest] = []
        self.rejected: dict[int, int] = {}  # status -> requests refused with it
        self._delivered: set[tuple[str, str]] = set()  # (transmitter, reference) answered OK
        self._last_ping: dict[str, float] = {}
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._handlers: set[asyncio.Task[Any]] = set()
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> SosAccessConsole:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await server.wait_closed()

    def alarms(self) -> list[SosRequest]:
        """Alarm requests answered OK (or duplicate), in arrival order."""
        return [e for e in self.events if not e.is_link_test and e.status in (sos.OK,
                                                                             sos.DUPLICATE)]

    async def wait_until(self, predicate: Callable[[list[SosRequest]], bool],
                         within: float) -> bool:
        try:
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: predicate(self.events))
        except TimeoutError:
            return False
        return True

    # -- one connection, one request --------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            async with self._slots:
                await self._serve(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception as exc:  # never let one client end the console
            self.rejected[-1] = self.rejected.get(-1, 0) + 1
            with contextlib.suppress(Exception):
                print(f"sos-access console: dropped a connection: {type(exc).__name__}: "
                      f"{exc}", flush=True)
        finally:
            writer.transport.abort()
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        doc_reader = sos.DocumentReader()
        doc: sos.Document | None = None
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                while doc is None:
                    chunk = await reader.read(4096)
                    if not chunk:
                        doc = doc_reader.finish()
                        break
                    doc = doc_reader.feed(chunk)
        except TimeoutError:
            self.rejected[0] = self.rejected.get(0, 0) + 1
            return  # nothing complete to answer
        except sos.SosAccessError as exc:
            await self._reply(writer, "alarmresponse", None, exc.status)
            self.rejected[exc.status] = self.rejected.get(exc.status, 0) + 1
            return
        status, extra = self._judge(doc)
        response = sos.RESPONSES.get(doc.root, "alarmresponse")
        reference = doc.fields.get("reference") or None
        if status != sos.OK:
            self.rejected[status] = self.rejected.get(status, 0) + 1
        await self._reply(writer, response, reference, status, extra)
        await self._notify()

    def _judge(self, doc: sos.Document) -> tuple[int, dict[str, str]]:
        if not doc.declared:
            return sos.HEADER_MISSING, {}
        if doc.root not in sos.REQUESTS:
            return sos.INVALID_XML, {}
        # The client on PyPI sends absent optional fields as empty elements.
        fields = {k: v for k, v in doc.fields.items() if v != ""}
        required = ["authentication", "transmittercode", "transmittertype"]
        if doc.root == "alarmrequest":
            required += ["receiver", "eventcode"]
        missing = [name for name in required if name not in fields]
        if missing:
            return self._record(doc.root, fields, sos.MANDATORY_MISSING), {}
        for name, limit in sos.LIMITS.items():
            if len(fields.get(name, "")) > limit:
                return self._record(doc.root, fields, sos.WRONG_CONTENT), {}
        if (len(fields["authentication"]) != sos.AUTH_LENGTH
                or len(fields["transmittertype"]) != 5
                or fields.get("alarmtype", "AL") not in ("AL", "RE")):
            return self._record(doc.root, fields, sos.WRONG_CONTENT), {}
        code = fields["transmittercode"]
        if self.credentials.get(code) != fields["authentication"]:
            return self._record(doc.root, fields, sos.NOT_AUTHORIZED), {}
        if doc.root == "pingrequest":
            now = time.monotonic()
            if not self.heartbeat_service:
                return self._record(doc.root, fields, sos.NO_HEARTBEAT_SERVICE), {}
            last = self._last_ping.get(code)
            self._last_ping[code] = now
            if last is not None and now - last < self.min_ping_interval:
                return self._record(doc.root, fields, sos.PING_TOO_OFTEN), {}
            return self._record(doc.root, fields, sos.OK), {}
        if doc.root == "requestnewauthentication":
            new = sos.new_password()
            self.credentials[code] = new
            return self._record(doc.root, fields, sos.OK), {"newauthentication": new}
        key = (code, fields.get("reference", ""))
        if fields.get("reference") and key in self._delivered:
            return self._record(doc.root, fields, sos.DUPLICATE), {}
        request = self._request(doc.root, fields, sos.OK)
        override = self.answer(request) if self.answer is not None else None
        status = sos.OK if override is None else override[0]
        if status == sos.OK:
            self._delivered.add(key)
        return self._record(doc.root, fields, status), {}

    def _request(self, root: str, fields: dict[str, str], status: int) -> SosRequest:
        return SosRequest(time.time(), root, fields.get("transmittercode", ""),
                          fields.get("transmittertype", ""), fields.get("reference"),
                          {k: v for k, v in fields.items() if k != "authentication"}, status,
                          sos.STATUS_INFO.get(status, "OTHER_ERROR"))

    def _record(self, root: str, fields: dict[str, str], status: int) -> int:
        request = self._request(root, fields, status)
        self.events.append(request)
        if self.on_event is not None:
            self.on_event(request)
        return status

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def _reply(self, writer: asyncio.StreamWriter, root: str, reference: str | None,
                     status: int, extra: dict[str, str] | None = None) -> None:
        fields: dict[str, str | None] = {
            "reference": sos.clean(reference, 50) if reference else None,
            "status": str(status), "info": sos.STATUS_INFO.get(status, "OTHER_ERROR"),
            **(extra or {}), "arrivaltime": sos.arrival_time(time.time())}
        writer.write(sos.document(root, fields))
        with contextlib.suppress(ConnectionError):
            await writer.drain()


# -- `trygg arc listen --protocol sos-access` -------------------------------------------------


def add_listen_arguments(parser: Any) -> None:
    parser.add_argument("--transmitter", action="append", default=[],
                        help="SOS Access transmitter code to accept; repeat for more")
    parser.add_argument("--authentication-file", type=Path,
                        help="SOS Access: file with the transmitters' 15-character password "
                        "(mode 0600; never printed)")
    parser.add_argument("--no-heartbeat-service", action="store_true",
                        help="SOS Access: answer heartbeats with status 9")


# The words `trygg arc listen --answer` shares with the SCAIP console, as SOS Access statuses.
_ANSWER_WORDS = {"ok": sos.OK, "not-treated": sos.NOT_TREATED, "error": sos.OTHER_ERROR}


def answer_status(text: str) -> int:
    """The status ``--answer`` asks for: ok, not-treated, error [STATUS] or a status number.
    ValueError naming what is allowed."""
    words = text.strip().lower().split()
    allowed = (f"one of ok, not-treated, error [STATUS] or a status number "
               f"({', '.join(str(n) for n in sorted(sos.STATUS_INFO))})")
    if len(words) == 2 and words[0] == "error":
        words = words[1:]
    if len(words) != 1:
        raise ValueError(f"--answer {text.strip()!r}: {allowed}")
    if words[0] in _ANSWER_WORDS:
        return _ANSWER_WORDS[words[0]]
    if words[0].isdigit() and int(words[0]) in sos.STATUS_INFO:
        return int(words[0])
    raise ValueError(f"--answer {text.strip()!r}: {allowed}")


async def listen(args: argparse.Namespace) -> int:
    status = None if args.answer is None else answer_status(args.answer)
    if not args.transmitter:
        raise ValueError("--transmitter: give the SOS Access transmitter code(s) to accept")
    if args.authentication_file is None:
        raise ValueError("--authentication-file: give the file with the transmitters' password")
    try:
        password = read_secret(args.authentication_file)
    except OSError as exc:
        raise ValueError(f"--authentication-file: {exc}") from None
    if len(password) != sos.AUTH_LENGTH:
        raise ValueError(f"--authentication-file: the password is not {sos.AUTH_LENGTH} "
                         "characters")
    done = asyncio.Event()
    seen = 0

    def show(event: SosRequest) -> None:
        nonlocal seen
        if event.is_link_test and args.hide_link_tests:
            return
        print(event.operator_line(), flush=True)
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    fixed = None if status is None else (status, sos.STATUS_INFO[status])
    console = SosAccessConsole(args.port, dict.fromkeys(args.transmitter, password),
                               host=args.host, answer=(lambda _r: fixed), on_event=show,
                               heartbeat_service=not args.no_heartbeat_service)
    try:
        await console.start()
    except OSError as exc:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    print(f"listening on tcp://{args.host}:{args.port} (SOS Access v4) for transmitter(s) "
          f"{', '.join(args.transmitter)}; Ctrl-C to stop", flush=True)
    try:
        await done.wait()
    finally:
        await console.stop()
    return 0
