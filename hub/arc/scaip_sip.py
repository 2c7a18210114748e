"""SIP for SCAIP: registration, MESSAGE out and in, on PJSIP (its own ``pjsua2`` binding).

SCAIP rides on SIP (RFC 3261): a unit REGISTERs with Digest credentials (§22, RFC 7616) and
sends each request as a SIP MESSAGE (RFC 3428); the centre answers in a MESSAGE of its own to
the unit's registered contact. Transactions, retransmission timers (§17), Digest, TCP and TLS
are PJSIP's: nothing of SIP is written here. This module only runs PJSIP on one thread of its
own and hands its results to asyncio.

Why one thread: PJSIP's endpoint is one per process, and its Python objects must be made,
used and destroyed where PJSIP can account for them. Every call into PJSIP is a command run
on the SIP thread between polls (``libHandleEvents``, which releases the GIL while it waits
for the network); callbacks arrive on that thread and are passed to the caller's event loop
with ``call_soon_threadsafe``. The poll interval bounds how long a command waits (``POLL_MS``).

Installing PJSIP: ``pip install pjsua2-python`` (a dependency of the project) has wheels for
x86_64 Linux. On a Raspberry Pi (aarch64) build the wheel once from the same release's sdist,
which fetches pjproject's source and builds it without sound and video::

    sudo apt-get install git build-essential python3-dev swig libssl-dev patchelf
    pip download --no-deps --no-binary :all: pjsua2-python==2.15.1.post1
    tar xzf pjsua2_python-2.15.1.post1.tar.gz && cd pjsua2_python-2.15.1.post1
    PYTHON=/opt/trygg/.venv/bin/python bash scripts/build_pjsip_linux.sh
    /opt/trygg/.venv/bin/pip wheel --no-deps -w dist .
    /opt/trygg/.venv/bin/pip install dist/*.whl

(about 20 minutes on a Pi 4; the wheel can be copied to other hubs). Without it, a SCAIP
receiver refuses to start with :class:`SipUnavailable`, which says the same.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import math
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

log = logging.getLogger("trygg.sip")

T = TypeVar("T")

# How long the SIP thread blocks in one poll: the most a command from asyncio waits before it
# runs. 5 ms keeps a SCAIP round trip far under the 100 ms loopback goal at ~200 idle wake-ups
# a second, which a Raspberry Pi does not notice.
POLL_MS = 5
# Seconds to wait for the SIP thread to run a command before the caller gives up (it is
# stuck only if PJSIP is).
COMMAND_TIMEOUT_S = 10.0
# At exit, how long PJSIP may finish MESSAGE transactions still open (a registrar answers
# 408 within its own timer, kamailio's default 5 s here) before the endpoint is destroyed.
EXIT_DRAIN_S = 6.0
TRANSPORTS = ("udp", "tcp", "tls")

BUILD_HINT = ("SCAIP needs PJSIP's Python binding (module pjsua2): pip install pjsua2-python "
              "on x86_64; on a Raspberry Pi build it as hub/arc/scaip_sip.py describes")


class SipUnavailable(RuntimeError):
    """PJSIP cannot be used here (not installed, or it failed to start)."""


class SipError(RuntimeError):
    """PJSIP refused an operation (bad URI, transport cannot bind, ...)."""


def _import_pjsua2() -> Any:
    try:
        import pjsua2
    except ImportError as exc:
        raise SipUnavailable(f"{BUILD_HINT} ({exc})") from None
    return pjsua2


def available() -> bool:
    """True when PJSIP's binding imports (tests skip without it)."""
    try:
        _import_pjsua2()
    except SipUnavailable:
        return False
    return True


@dataclass(frozen=True)
class AccountConfig:
    """One SIP identity: ``user`` (for SCAIP the controller id) registered at
    ``registrar_host:registrar_port`` over ``transport``, answering on ``local_host``."""

    user: str
    password: str
    registrar_host: str
    registrar_port: int
    transport: str = "udp"
    local_host: str = "0.0.0.0"
    # Registration lifetime asked for (RFC 3261 §10.2.1; the registrar may shorten it) and the
    # wait before a failed registration is tried again.
    register_expires_s: int = 300
    register_retry_s: int = 10
    tls_ca_file: str | None = None  # TLS: verify the server against these CAs
    domain_name: str | None = None  # SIP domain when it is not the registrar's host

    @property
    def domain(self) -> str:
        return self.domain_name or self.registrar_host

    @property
    def registrar_uri(self) -> str:
        scheme = "sips" if self.transport == "tls" else "sip"
        return f"{scheme}:{self.registrar_host}:{self.registrar_port};transport={self.transport}"

    @property
    def aor(self) -> str:
        """The address of record: From and To of our requests (SCAIP: From user == cid)."""
        return f"sip:{self.user}@{self.domain}"

    def uri_for(self, user: str) -> str:
        """The URI of another user in our domain (the centre, or for the centre the unit)."""
        return f"sip:{user}@{self.domain}"


_URI_USER_RE = re.compile(r"sips?:([^@;>\s]+)@")


def uri_user(uri: str) -> str | None:
    """The user part of a SIP URI or name-addr ("<sip:1234@host>" -> "1234")."""
    match = _URI_USER_RE.search(uri)
    return match.group(1) if match else None


@dataclass(frozen=True)
class IncomingMessage:
    """A MESSAGE that arrived (PJSIP has answered it 200 OK already). ``source``: the
    address ("host:port") it came from."""

    from_uri: str
    content_type: str
    body: str
    source: str = ""


def split_address(address: str) -> tuple[str, int | None]:
    """("host", port) of "host:port", "[v6]:port" or a bare host."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = address.rpartition(":")
        if not sep:
            host, port = address, ""
    return host, int(port) if port.isdigit() else None


@dataclass(frozen=True)
class MessageStatus:
    """The final SIP response to one MESSAGE we sent (408 when nothing answered, 503 when
    the transport failed). ``body`` is the response's body (a SCAIP <mrs> may ride in a 2xx)."""

    code: int
    reason: str
    body: str

    @property
    def delivered(self) -> bool:
        return 200 <= self.code < 300


@dataclass(frozen=True)
class RegistrationState:
    code: int
    reason: str
    expires: int

    @property
    def registered(self) -> bool:
        return 200 <= self.code < 300 and self.expires > 0


def _response_body(whole: str) -> str:
    _head, sep, body = whole.partition("\r\n\r\n")
    return body if sep else ""


class SipStack:
    """PJSIP on its own thread; one per process (``SipStack.get()``)."""

    _instance: SipStack | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> SipStack:
        with cls._instance_lock:
            if cls._instance is None or not cls._instance._thread.is_alive():
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        self.pj = _import_pjsua2()
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._failed: BaseException | None = None
        self._transports: dict[tuple[str, str], int] = {}
        # Closed accounts that still have MESSAGE transactions open (SIP thread only). PJSIP
        # (pjsua2 2.15) asserts, aborting the process, when a MESSAGE's final response arrives
        # for an account already deleted, so an account is deleted only once its last
        # transaction has ended.
        self._retired: set[Any] = set()
        # Every PJSIP account object alive, so that none is destroyed by Python's garbage
        # collector on another thread (PJSIP aborts when called from a thread it does not
        # know): they are deleted here, on the SIP thread, by retire().
        self._live: set[Any] = set()
        self._endpoint: Any = None
        self._log_writer: Any = None
        self._thread = threading.Thread(target=self._run, name="trygg-sip", daemon=True)
        self._thread.start()
        self._started.wait(COMMAND_TIMEOUT_S)
        if self._failed is not None:
            raise SipUnavailable(f"PJSIP did not start: {self._failed}") from None
        if not self._started.is_set():
            raise SipUnavailable("PJSIP did not start within "
                                 f"{COMMAND_TIMEOUT_S:.0f} s")
        atexit.register(self.shutdown)

    # -- the SIP thread -----------------------------------------------------

    def _run(self) -> None:
        pj = self.pj
        try:
            endpoint = pj.Endpoint()
            # libCreate prints a banner on stdout before any log setting applies; a console's
            # output is for operators, so the banner goes to /dev/null.
            with _stdout_silenced():
                endpoint.libCreate()
            config = pj.EpConfig()
            config.uaConfig.threadCnt = 0  # no PJSIP worker threads: this thread polls
            config.uaConfig.mainThreadOnly = False
            config.uaConfig.userAgent = "Trygg hub (SCAIP)"
            self._log_writer = _LogWriter(pj)
            config.logConfig.writer = self._log_writer
            config.logConfig.level = 4 if log.isEnabledFor(logging.DEBUG) else 2
            config.logConfig.consoleLevel = config.logConfig.level
            config.logConfig.decor = 0
            endpoint.libInit(config)
            endpoint.audDevManager().setNullDev()  # SCAIP's voice goes to the resident's phone
            endpoint.libStart()
            self._endpoint = endpoint
        except BaseException as exc:  # reported to the starting thread
            self._failed = exc
            self._started.set()
            return
        self._started.set()
        while not self._stopping.is_set():
            self._run_commands()
            try:
                endpoint.libHandleEvents(POLL_MS)
            except Exception:  # PJSIP errors must not end the SIP thread
                log.exception("PJSIP event handling failed")
        self._run_commands()
        for account in list(self._live):
            self.retire(account)
        deadline = time.monotonic() + EXIT_DRAIN_S
        while self._retired and time.monotonic() < deadline:
            self._run_commands()
            with contextlib.suppress(Exception):
                endpoint.libHandleEvents(POLL_MS)
        if self._retired:
            # Destroying now would abort the process (above); the OS releases the sockets.
            log.warning("SIP: %d account(s) still have MESSAGE transactions open at exit; "
                        "PJSIP is left to the process exit", len(self._retired))
            # Nor may Python's finalizer destroy these objects from the main thread.
            buddies = [b for account in self._retired for b in account.buddies.values()]
            for obj in (*buddies, *self._retired, endpoint, self._log_writer):
                with contextlib.suppress(Exception):
                    obj.thisown = False
            return
        with contextlib.suppress(Exception):
            endpoint.libDestroy()

    def retire(self, account: Any) -> None:
        """(SIP thread) Delete ``account`` now, or when its open transactions have ended."""
        if account.in_flight > 0:
            account.retired = True
            self._retired.add(account)
            with contextlib.suppress(Exception):
                account.setRegistration(False)
            # PJSIP hands an incoming request to the first account whose address matches: a
            # new account of the same user (a restarted console) must get it, not this one.
            config = account.config
            config.idUri = f"sip:retired-{id(account)}@retired.invalid"
            config.regConfig.registrarUri = ""
            with contextlib.suppress(Exception):
                account.modify(config)
            return
        self._retired.discard(account)
        self._live.discard(account)
        account.buddies.clear()
        with contextlib.suppress(Exception):
            account.shutdown()

    def transaction_ended(self, account: Any) -> None:
        """(SIP thread, from a callback) One of ``account``'s MESSAGEs got its final answer."""
        account.in_flight -= 1
        if account.retired and account.in_flight <= 0:
            # Not from inside PJSIP's callback: after it returns.
            self._commands.put(lambda: self.retire(account))

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    @property
    def endpoint(self) -> Any:
        """(SIP thread) PJSIP's endpoint."""
        return self._endpoint

    def transport_id(self, kind: str, host: str, tls_ca_file: str | None = None) -> int:
        """(SIP thread) The transport of ``kind`` bound to ``host`` on a free port."""
        key = (kind, host)
        if key in self._transports:
            return self._transports[key]
        pj = self.pj
        config = pj.TransportConfig()
        config.port = 0
        config.boundAddress = host
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP,
                 "tls": pj.PJSIP_TRANSPORT_TLS}
        if kind in ("tcp", "tls"):
            # A SIP MESSAGE and its answer are small writes each way: with Nagle's algorithm
            # on, each waits for the peer's delayed ACK (40 ms on Linux), which tripled the
            # SCAIP round trip over TCP in trygg bench arc.
            nodelay = pj.SockOpt()
            nodelay.level = socket.IPPROTO_TCP
            nodelay.optName = socket.TCP_NODELAY
            nodelay.setOptValInt(1)
            config.sockOptParams.sockOpts.append(nodelay)
        if kind == "tls":
            config.tlsConfig.verifyServer = True
            if tls_ca_file:
                config.tlsConfig.CaListFile = tls_ca_file
        try:
            tid: int = self._endpoint.transportCreate(kinds[kind], config)
        except pj.Error as exc:
            raise SipError(f"cannot open a SIP {kind} transport on {host}: {exc.info()}") \
                from None
        self._transports[key] = tid
        return tid

    # -- from asyncio -------------------------------------------------------

    async def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the SIP thread and return its result (or raise its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if future.done():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def command() -> None:
            try:
                result: Any = (True, function())
            except BaseException as exc:  # handed to the caller
                result = (False, _plain_error(self.pj, exc))
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                loop.call_soon_threadsafe(settle, *result)

        if self._stopping.is_set():
            raise SipUnavailable("the SIP stack has shut down")
        self._commands.put(command)
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            return await future

    def shutdown(self) -> None:
        """Stop the SIP thread and destroy the endpoint (at exit)."""
        self._stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(COMMAND_TIMEOUT_S)


def _plain_error(pj: Any, exc: BaseException) -> BaseException:
    if isinstance(exc, pj.Error):
        return SipError(f"PJSIP: {exc.info()}")
    return exc


@contextlib.contextmanager
def _stdout_silenced() -> Any:
    saved = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _LogWriter(pj: Any) -> Any:  # a class made at run time: pjsua2 is optional
    class Writer(pj.LogWriter):  # type: ignore[misc]
        def write(self, entry: Any) -> None:
            with contextlib.suppress(Exception):
                log.debug("%s", str(entry.msg).rstrip())
    return Writer()


class SipAccount:
    """One registered SIP identity, used from one asyncio loop.

    ``on_message`` gets every MESSAGE that arrives for it; ``send_message`` returns the final
    SIP response. ``registration`` holds the latest registration outcome and ``registered``
    is set while the registrar has us.
    """

    # Accounts open in this process (their registrars are where MESSAGEs may come from).
    _open: ClassVar[set[SipAccount]] = set()

    def __init__(self, config: AccountConfig,
                 on_message: Callable[[IncomingMessage], None] | None = None) -> None:
        if config.transport not in TRANSPORTS:
            raise SipError(f"SIP transport {config.transport!r} (one of "
                           f"{', '.join(TRANSPORTS)})")
        self.config = config
        self.on_message = on_message
        self.registration: RegistrationState | None = None
        self.registered = asyncio.Event()
        self.registration_answered = asyncio.Event()  # set at the registrar's first answer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack: SipStack | None = None
        self._account: Any = None  # the pjsua2 Account (SIP thread only)
        self._transport_id: int | None = None
        self._pending: dict[str, list[asyncio.Future[MessageStatus]]] = {}
        # The registrar's addresses: a MESSAGE for us is taken only when it comes from there.
        self._proxy_hosts: set[str] = set()
        self._refreshed_at = -math.inf
        self.counters = {"sent": 0, "received": 0, "registrations": 0, "refused": 0,
                         "refreshes": 0}

    async def open(self) -> SipAccount:
        """Create the account and start registering (returns at once: await ``registered``
        to know the registrar took it). Raises SipUnavailable or SipError."""
        self._loop = asyncio.get_running_loop()
        c = self.config
        self._proxy_hosts = {c.registrar_host}
        with contextlib.suppress(OSError):
            found = await self._loop.getaddrinfo(c.registrar_host, c.registrar_port)
            self._proxy_hosts |= {str(info[4][0]) for info in found}
        self._stack = SipStack.get()
        await self._stack.call(self._create)
        SipAccount._open.add(self)
        return self

    def _is_proxy(self, host: str, port: int | None) -> bool:
        if host not in self._proxy_hosts:
            return False
        # Over UDP the proxy sends from its own port; over TCP and TLS it may open a
        # connection from any port of its host.
        return self.config.transport != "udp" or port == self.config.registrar_port

    def from_proxy(self, source: str) -> bool:
        """Whether ``source`` ("host:port") is a registrar and proxy this process sends
        through.

        Every request for us comes through one (it relays the centre's MESSAGE to our
        registered contact); one sent straight to our SIP port is from someone else, who
        could otherwise answer for the centre. Any of the process's registrars, not only
        this account's: two accounts with the same address of record (one cid at two
        centres) share PJSIP's transport, and PJSIP hands a MESSAGE to the first of them
        whichever registrar relayed it."""
        host, port = split_address(source)
        return any(account._is_proxy(host, port) for account in list(SipAccount._open))

    async def refresh_registration(self) -> bool:
        """Register again now (at most once per ``register_retry_s``): the registrar may have
        lost our binding (a restart that lost its table, a NAT that forgot us) while PJSIP
        believes it good until the next refresh, minutes away. True when a REGISTER went."""
        stack = self._stack
        now = time.monotonic()
        if stack is None or now - self._refreshed_at < self.config.register_retry_s:
            return False
        self._refreshed_at = now

        def register() -> None:
            if self._account is not None:
                self._account.setRegistration(True)

        try:
            await stack.call(register)
        except SipError as exc:
            log.warning("SIP: registering %s again failed: %s", self.config.aor, exc)
            return False
        self.counters["refreshes"] += 1
        return True

    async def wait_registered(self, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                await self.registered.wait()
        except TimeoutError:
            return False
        return True

    def _create(self) -> None:
        stack = self._stack
        assert stack is not None
        pj = stack.pj
        c = self.config
        tid = stack.transport_id(c.transport, c.local_host, c.tls_ca_file)
        self._transport_id = tid
        config = pj.AccountConfig()
        config.idUri = c.aor
        config.regConfig.registrarUri = c.registrar_uri
        config.regConfig.timeoutSec = c.register_expires_s
        config.regConfig.retryIntervalSec = c.register_retry_s
        config.regConfig.firstRetryIntervalSec = min(c.register_retry_s, 5)
        config.sipConfig.transportId = tid
        # Every request goes through the registrar, which is also the centre's proxy.
        config.sipConfig.proxies.append(c.registrar_uri + ";lr")
        config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", c.user, 0, c.password))
        config.presConfig.publishEnabled = False
        config.mwiConfig.enabled = False
        account = _make_account(pj, self)
        account.config = config
        try:
            account.create(config)
        except pj.Error as exc:
            raise SipError(f"SIP account {c.aor}: {exc.info()}") from None
        self._account = account
        stack._live.add(account)

    async def local_address(self) -> tuple[str, int]:
        """(host, port) of the SIP transport this account sends and receives on."""
        stack, tid = self._stack, self._transport_id
        if stack is None or tid is None:
            raise SipError("SIP account is not open")
        name = await stack.call(lambda: str(stack.endpoint.transportGetInfo(tid).localName))
        host, _, port = name.rpartition(":")
        return host, int(port)

    async def close(self) -> None:
        """Unregister and drop the account; pending sends end with 503."""
        SipAccount._open.discard(self)
        stack, self._stack = self._stack, None
        if stack is not None and self._account is not None:
            def remove() -> None:
                account, self._account = self._account, None
                stack.retire(account)
            with contextlib.suppress(Exception):
                await stack.call(remove)
        for futures in self._pending.values():
            for future in futures:
                if not future.done():
                    future.set_result(MessageStatus(503, "account closed", ""))
        self._pending.clear()
        self.registered.clear()

    async def send_message(self, to_uri: str, body: str, content_type: str) -> MessageStatus:
        """Send one MESSAGE and return its final response. Waits as long as the SIP
        transaction does (RFC 3261 §17.1.2: 64*T1 = 32 s without an answer); callers bound
        it with their own timeout."""
        stack = self._stack
        if stack is None or self._loop is None:
            raise SipError("SIP account is not open")
        future: asyncio.Future[MessageStatus] = self._loop.create_future()
        self._pending.setdefault(body, []).append(future)

        def send() -> None:
            pj = stack.pj
            if self._account is None:
                raise SipError("SIP account closed")
            buddy = self._account.buddies.get(to_uri)
            if buddy is None:
                config = pj.BuddyConfig()
                config.uri = to_uri
                config.subscribe = False
                buddy = pj.Buddy()
                buddy.create(self._account, config)
                self._account.buddies[to_uri] = buddy
            param = pj.SendInstantMessageParam()
            param.contentType = content_type
            param.content = body
            buddy.sendInstantMessage(param)
            self._account.in_flight += 1

        try:
            await stack.call(send)
        except BaseException:
            self._forget(body, future)
            raise
        self.counters["sent"] += 1
        try:
            return await asyncio.shield(future)
        finally:
            self._forget(body, future)

    def _forget(self, body: str, future: asyncio.Future[MessageStatus]) -> None:
        futures = self._pending.get(body)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self._pending[body]

    # -- callbacks, passed from the SIP thread ---------------------------------

    def _post(self, function: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(function, *args)

    def _registration_state(self, state: RegistrationState) -> None:
        self.registration = state
        if state.registered:
            self.counters["registrations"] += 1
            self.registered.set()
        else:
            self.registered.clear()
        self.registration_answered.set()

    def _message_status(self, body: str, status: MessageStatus) -> None:
        futures = self._pending.get(body)
        while futures:
            future = futures.pop(0)
            if not future.done():
                future.set_result(status)
                return

    def _incoming(self, message: IncomingMessage) -> None:
        if not self.from_proxy(message.source):
            self.counters["refused"] += 1
            # Counted always, logged sparingly: a flood of these must not flood the log.
            if self.counters["refused"] in (1, 10, 100) or self.counters["refused"] % 1000 == 0:
                log.warning("SIP: %s: MESSAGE from %s, not through the registrar %s:%d: "
                            "ignored (%d so far)", self.config.aor, message.source[:60],
                            self.config.registrar_host, self.config.registrar_port,
                            self.counters["refused"])
            return
        self.counters["received"] += 1
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception:  # a handler's fault must not end the SIP path
                log.exception("SIP message handler failed")


def _make_account(pj: Any, owner: SipAccount) -> Any:
    class Account(pj.Account):  # type: ignore[misc]
        in_flight = 0  # MESSAGEs sent whose final response has not come (SIP thread only)
        retired = False

        def __init__(self) -> None:
            super().__init__()
            self.buddies: dict[str, Any] = {}  # peer URI -> pjsua2 Buddy (SIP thread only)
            self.config: Any = None  # the pjsua2 AccountConfig it was made with

        # Callbacks run on the SIP thread; each reads what it needs from PJSIP's parameter
        # (valid only during the call) and posts plain values. Never raise into PJSIP.
        def onRegState(self, prm: Any) -> None:  # pjsua2's name
            try:
                state = RegistrationState(int(prm.code), str(prm.reason), int(prm.expiration))
            except Exception:
                log.exception("SIP registration callback")
                return
            owner._post(owner._registration_state, state)

        def onInstantMessage(self, prm: Any) -> None:
            if self.retired:
                return
            try:
                source = str(prm.rdata.srcAddress) if prm.rdata is not None else ""
                message = IncomingMessage(str(prm.fromUri), str(prm.contentType),
                                          str(prm.msgBody), source)
            except Exception:
                log.exception("SIP incoming message callback")
                return
            owner._post(owner._incoming, message)

        def onInstantMessageStatus(self, prm: Any) -> None:
            stack = owner._stack or SipStack._instance
            if stack is not None:
                stack.transaction_ended(self)
            try:
                whole = str(prm.rdata.wholeMsg) if prm.rdata is not None else ""
                status = MessageStatus(int(prm.code), str(prm.reason), _response_body(whole))
                body = str(prm.msgBody)
            except Exception:
                log.exception("SIP message status callback")
                return
            owner._post(owner._message_status, body, status)

    return Account()
