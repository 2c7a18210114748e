"""Run a private mosquitto broker on loopback: for tests, benchmarks and the demo.

The hub writes the broker's password and ACL files (hub/broker.py); this module
only starts a real ``mosquitto`` (Debian package) on a free 127.0.0.1 port with
a generated configuration, waits until it accepts connections, and can stop and
restart it on the same port (to test devices and the hub across broker
outages).
"""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from trygg.tools.sim.processes import LocalServer, end_process

START_TIMEOUT_S = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now, chosen below the kernel's ephemeral range.

    A port from that range (what binding port 0 gives) can be taken while its server is down
    -- a broker stopped to play an outage -- by the source port of any outgoing connection,
    including a client's own reconnect to it: on loopback a connect whose source port equals
    its destination connects to itself (TCP simultaneous open), and the server cannot start
    again ("Address already in use"). Below the range no connection is given it."""
    low = _EPHEMERAL_LOW
    for _ in range(50):  # bounded: another test may hold the one tried
        port = _RNG.randrange(_FIXED_LOW, low)
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        chosen: int = s.getsockname()[1]
        return chosen


def _ephemeral_low() -> int:
    """The lowest port Linux gives outgoing connections (ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return max(_FIXED_LOW + 1000, int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


_FIXED_LOW = 20000  # above the ports services commonly listen on (mosquitto 1883, SIP 5060)
_EPHEMERAL_LOW = _ephemeral_low()
_RNG = random.SystemRandom()  # apart from any seed a test sets on the random module


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("mosquitto not found: install the Debian package 'mosquitto' "
                            "(tools/dev does this)")


class Mosquitto(LocalServer):
    """A mosquitto process on ``127.0.0.1:port``.

    ``password_file`` / ``acl_file``: when given, anonymous access is off and
    these files (mosquitto_passwd and ACL formats) apply. ``broker_conf``: the
    configuration ``trygg hub broker`` wrote, included the way Debian's
    mosquitto.conf includes it on a hub (``include_dir`` of a folder with a link
    to it); it has the listener, so ``port`` and ``host`` must be its own.
    ``extra_config`` lines are appended to the generated mosquitto.conf.
    """

    def __init__(self, port: int | None = None, *, password_file: Path | None = None,
                 acl_file: Path | None = None, extra_config: tuple[str, ...] = (),
                 workdir: Path | None = None, pid_file: Path | None = None,
                 host: str = "127.0.0.1", broker_conf: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="trygg-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        # Only on request: as root, mosquitto writes it after dropping to its own user, which
        # cannot write into a private temporary folder.
        self.pid_path = pid_file
        if broker_conf is not None:
            conf_d = self.workdir / "conf.d"
            conf_d.mkdir(exist_ok=True)
            link = conf_d / "trygg.conf"
            link.unlink(missing_ok=True)
            link.symlink_to(broker_conf.resolve())
            # As Debian's /etc/mosquitto/mosquitto.conf: state in its own folder, then conf.d.
            lines = [f"persistence_location {self.workdir}/", f"include_dir {conf_d}"]
        else:
            lines = [f"listener {self.port} {self.host}", "persistence false"]
        lines += [
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if broker_conf is None:
            # QoS 1 messages for a device offline longer than this are kept by the
            # device's own outbox, not by the broker.
            lines.append("max_queued_messages 1000")
        if pid_file is not None:
            lines.append(f"pid_file {pid_file}")
        if password_file is not None:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        elif broker_conf is None:
            lines += ["allow_anonymous true"]
        if acl_file is not None:
            lines.append(f"acl_file {acl_file}")
        lines += list(extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle -------------------------------------------------------

    def start(self) -> "Mosquitto":
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._proc = subprocess.Popen([find_mosquitto(), "-c", str(self.config_path)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start (code {self._proc.returncode}): "
                                   f"{err.strip()} -- see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.host, self.port), timeout=0.2):
                return self
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on {self.host}:{self.port} within "
                           f"{START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); the port stays reserved for restart."""
        proc, self._proc = self._proc, None
        if proc is not None:
            end_process(proc)

    def kill(self) -> None:
        """Stop abruptly, as a crash or power cut would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def reload(self) -> None:
        """Re-read the configuration and password and ACL files (SIGHUP)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)



@contextlib.contextmanager
def running_broker(**kwargs: object) -> Iterator[Mosquitto]:
    broker = Mosquitto(**kwargs)  # type: ignore[arg-type]
    try:
        yield broker.start()
    finally:
        broker.close()
