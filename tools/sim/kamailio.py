"""Run a private kamailio SIP server on loopback: the SIP registrar and proxy between the hub
and a SCAIP alarm centre, for tests, benchmarks and the demo.

A real SCAIP centre sits behind a SIP server that authenticates every unit with Digest
(RFC 3261 §22, RFC 7616), keeps its registration (§10) and relays its MESSAGE requests
(RFC 3428) to the centre's registered contact. This module starts a real ``kamailio``
(Debian package) doing exactly that, on one free 127.0.0.1 port for UDP and TCP, with users
and passwords from a plain-text table (kamailio's ``db_text``), and can stop and restart it on
the same port (to test the hub and the console across a SIP server outage).

Registrations survive a restart (``stop()`` then ``start()``): the location table is written
to the db_text folder at shutdown, as a production registrar keeps it in a database. ``kill()``
loses what was not written, as a crash would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from trygg.tools.sim.processes import LocalServer

START_TIMEOUT_S = 10.0
# Registration lifetimes the registrar grants (RFC 3261 §10.2.1.1, §10.3 step 7). Short ones
# keep a test's restarted client from waiting an hour for its next refresh; the upper bound is
# kamailio's default.
DEFAULT_MIN_EXPIRES_S = 10
DEFAULT_MAX_EXPIRES_S = 3600
# Shared and private memory (MB) per kamailio: far below the Debian defaults (64 and 8), since
# tests run several at once on a small machine and this registrar holds a handful of users.
SHM_MB = 16
PKG_MB = 4

_USER_RE = re.compile(r"[A-Za-z0-9._\-]{1,64}")

_SUBSCRIBER_HEADER = ("id(int,auto) username(string) domain(string) password(string) "
                      "ha1(string,null) ha1b(string,null)")
_LOCATION_HEADER = (
    "id(int,auto) ruid(string) username(string) domain(string,null) contact(string) "
    "received(string,null) path(string,null) expires(int) q(double) callid(string) "
    "cseq(int) last_modified(int) flags(int) cflags(int) user_agent(string) "
    "socket(string,null) methods(int,null) instance(string,null) reg_id(int) "
    "server_id(int) connection_id(int) keepalive(int) partition(int)")
_VERSION_ROWS = ("id(int,auto) table_name(string) table_version(int)\n"
                 "0:version:1\n0:subscriber:7\n0:location:9\n0:location_attrs:1\n")
_LOCATION_ATTRS_HEADER = ("id(int,auto) ruid(string) username(string) domain(string,null) "
                          "aname(string) atype(int) avalue(string) last_modified(int)")


def find_kamailio() -> str:
    for candidate in (shutil.which("kamailio"), "/usr/sbin/kamailio"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("kamailio not found: install the Debian package 'kamailio' "
                            "(tools/dev does this)")


def free_udp_tcp_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port free for both UDP and TCP on ``host`` (SIP uses the same number for both)."""
    for _ in range(attempts):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise OSError(f"no port free for both UDP and TCP on {host} after {attempts} tries")


def _config(*, host: str, port: int, db_dir: Path, min_expires: int, max_expires: int,
            log_level: int) -> str:
    # A registrar and proxy in the shape of kamailio's own default configuration, reduced to
    # what a SCAIP path needs: every request from a user is authenticated with Digest
    # (qop=auth, RFC 7616 §3.3), and auth_check's flag 1 makes the From user (To user for
    # REGISTER) equal the authenticated user, as SCAIP receivers require From user == cid.
    return f"""#!KAMAILIO
debug={log_level}
log_stderror=yes
log_prefix="kamailio: "
children=2
tcp_children=2
listen=udp:{host}:{port}
listen=tcp:{host}:{port}
alias="{host}:{port}"
auto_aliases=no
tcp_connection_lifetime=3605
tcp_accept_no_cl=yes

loadmodule "db_text.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "auth_db.so"

modparam("usrloc", "db_url", "text://{db_dir}")
# db_mode 3 would read and write every change; 1 (write-through) keeps the in-memory table
# authoritative and lets db_text write it to disk at shutdown, which is what a restart needs.
modparam("usrloc", "db_mode", 1)
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "max_expires", {max_expires})
modparam("registrar", "default_expires", {max_expires})
modparam("auth_db", "db_url", "text://{db_dir}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth", "nonce_expire", 300)
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "malformed request from $si:$sp dropped\\n");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route() || is_method("ACK")) {{
            if (t_check_trans()) t_relay();
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) t_relay();
        exit;
    }}
    t_check_trans();
    if (!auth_check("$fd", "subscriber", "1")) {{
        auth_challenge("$fd", "1");
        exit;
    }}
    consume_credentials();
    if (is_method("REGISTER")) {{
        if (!save("location")) sl_reply_error();
        exit;
    }}
    if ($rU == $null) {{
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}
    if (!lookup("location")) {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    if (!t_relay()) sl_reply_error();
    exit;
}}
"""


class Kamailio(LocalServer):
    """A kamailio process on ``host:port`` (UDP and TCP) with Digest users ``users``
    ({user: password}) in the realm ``host``.

    Raises FileNotFoundError when kamailio is not installed, RuntimeError when it exits at
    start (the message quotes its error output) and TimeoutError when it does not listen.
    """

    def __init__(self, users: Mapping[str, str], *, port: int | None = None,
                 host: str = "127.0.0.1", workdir: Path | None = None,
                 min_expires: int = DEFAULT_MIN_EXPIRES_S,
                 max_expires: int = DEFAULT_MAX_EXPIRES_S, log_level: int = 1) -> None:
        for user, password in users.items():
            if not _USER_RE.fullmatch(user):
                raise ValueError(f"Kamailio users: {user!r} is not a SIP user name for this "
                                 "fixture (1-64 of A-Z a-z 0-9 . _ -)")
            if not password or any(c in password for c in ":\n\r\\"):
                raise ValueError(f"Kamailio users: {user}: the password is empty or has a "
                                 "character db_text cannot store (: \\ or a line break)")
        self.host = host
        self.port = port or free_udp_tcp_port(host)
        self.realm = host
        self.users = dict(users)
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="trygg-kamailio-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_dir = self.workdir / "db"
        self.db_dir.mkdir(exist_ok=True)
        self.config_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        self.pid_path = self.workdir / "kamailio.pid"
        self._write_tables()
        self.config_path.write_text(_config(host=host, port=self.port, db_dir=self.db_dir,
                                            min_expires=min_expires, max_expires=max_expires,
                                            log_level=log_level))
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: int | None = None

    def _write_tables(self) -> None:
        rows = [_SUBSCRIBER_HEADER]
        for n, (user, password) in enumerate(sorted(self.users.items()), start=1):
            rows.append(f"{n}:{user}:{self.realm}:{password}::")
        (self.db_dir / "subscriber").write_text("\n".join(rows) + "\n")
        (self.db_dir / "version").write_text(_VERSION_ROWS)
        for name, header in (("location", _LOCATION_HEADER),
                             ("location_attrs", _LOCATION_ATTRS_HEADER)):
            table = self.db_dir / name
            if not table.exists():
                table.write_text(header + "\n")

    @property
    def domain(self) -> str:
        """host:port, the registrar's address as SIP URIs name it."""
        return f"{self.host}:{self.port}"

    # -- life cycle -------------------------------------------------------

    def start(self) -> Kamailio:
        if self.running:
            return self
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # -DD: stay in the foreground (children are still forked); -E: log to stderr.
            # Its own session, so stop() and kill() reach the worker processes too.
            self._proc = subprocess.Popen(
                [find_kamailio(), "-f", str(self.config_path), "-DD", "-E",
                 "-P", str(self.pid_path), "-Y", str(self.workdir),
                 "-m", str(SHM_MB), "-M", str(PKG_MB)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        finally:
            os.close(log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RuntimeError(f"kamailio exited at start (code {code}): "
                                   f"{self.log()[-2000:].strip()} -- see {self.log_path}")
            if self._answers_options():
                return self
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"kamailio did not answer on {self.host}:{self.port} within "
                           f"{START_TIMEOUT_S} s -- see {self.log_path}")

    def _answers_options(self) -> bool:
        """True once the TCP listener accepts and the UDP one answers a request."""
        try:
            socket.create_connection((self.host, self.port), timeout=0.2).close()
        except OSError:
            return False
        probe = (f"OPTIONS sip:{self.domain} SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP {self.host}:9;branch=z9hG4bKprobe{time.monotonic_ns()}\r\n"
                 f"Max-Forwards: 70\r\nFrom: <sip:probe@{self.domain}>;tag=probe\r\n"
                 f"To: <sip:{self.domain}>\r\nCall-ID: probe-{time.monotonic_ns()}\r\n"
                 "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
            s.settimeout(0.3)
            try:
                s.bind((self.host, 0))
                # The reply goes to the Via address; name ours so it comes back to this socket.
                probe = probe.replace(f"{self.host}:9".encode(),
                                      f"{self.host}:{s.getsockname()[1]}".encode())
                s.sendto(probe, (self.host, self.port))
                data = s.recv(4096)
            except OSError:
                return False
        return data.startswith(b"SIP/2.0 ")

    def stop(self) -> None:
        """Stop kamailio (SIGTERM to its process group, SIGKILL after 5 s); the port and the
        registrations written at shutdown stay for ``start()``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5.0)
        self._reap_group(proc.pid)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL to every kamailio process), as a crash or power cut would."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5.0)
        self._reap_group(proc.pid)

    @staticmethod
    def _reap_group(pgid: int, timeout_s: float = 5.0) -> None:
        """Wait until the workers of process group ``pgid`` are gone, so a restart can bind
        the same port; SIGKILL any left after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)



@contextlib.contextmanager
def running_kamailio(users: Mapping[str, str], **kwargs: object) -> Iterator[Kamailio]:
    server = Kamailio(users, **kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.close()
