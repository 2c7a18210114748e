"""A MicroPython board on a serial port: the one path tools use to reach devices.

A USB-attached ESP32 and a simulated board on a pseudo-terminal offer the same
raw REPL (ARCHITECTURE.md invariant 5), so provisioning, self-tests and the
hardware-in-the-loop tests go through this class for both. It wraps mpremote's
serial transport (the library behind ``mpremote``) in one place, because that
API is marked as still changing upstream.

The unix port has no soft reset, so the raw REPL is always entered without one
(mpremote's ``resume``); on an ESP32 that means the running application is
interrupted with Ctrl-C, which is what a technician expects.
"""

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

REPL_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 0.5  # one read's wait; mpremote's own timeouts bound the whole
CHUNK = 256  # bytes per raw-REPL write: small enough for the ESP32's UART buffer


class DeviceError(Exception):
    """The board could not be reached or refused an operation (message says what to do)."""


# Lock files of the ports Trygg's tools hold, beside the system's own serial-line locks
# (/run/lock, the FHS place, world-writable and sticky); a temporary folder where there is none.
LOCK_FOLDERS = ("/run/lock", "/var/lock")


def _lock_path(port: str) -> Path:
    name = "trygg-" + os.path.realpath(port).strip("/").replace("/", "-") + ".lock"
    for folder in LOCK_FOLDERS:
        if os.path.isdir(folder) and os.access(folder, os.W_OK):
            return Path(folder) / name
    import tempfile

    return Path(tempfile.gettempdir()) / name


@contextlib.contextmanager
def port_lock(port: str) -> Iterator[None]:
    """Hold ``port`` for a whole tool run (provisioning opens it several times; a second run
    slipping in between would leave board and hub with different keys, both runs reporting
    success). DeviceError naming the holder when another Trygg tool has it."""
    import fcntl  # (a missing port is the tool's to report, in its own order of checks)

    path = _lock_path(port)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:  # another user's lock file: a read-only descriptor locks as well
        fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise DeviceError(f"{port}: another trygg provision or flash (pid {holder}) is using "
                              "this board; wait for it to finish, then run this again") from None
        with contextlib.suppress(OSError):  # read-only: the holder's pid stays unknown
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


class SerialDevice:
    """Raw-REPL access to one board. Use as a context manager."""

    def __init__(self, port: str, baudrate: int = 115200,
                 repl_timeout: float = REPL_TIMEOUT_S) -> None:
        self.port = port
        self.baudrate = baudrate
        self.repl_timeout = repl_timeout
        self._transport: Any = None

    def open(self) -> "SerialDevice":
        if not os.path.exists(self.port):
            raise DeviceError(f"{self.port}: no such port; is the board plugged in?")
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        try:
            # A read timeout: on a pty mpremote reads without checking what is waiting, and
            # without one a board that says nothing (asleep, or no MicroPython) blocks forever
            # instead of failing after repl_timeout.
            self._transport = SerialTransport(self.port, baudrate=self.baudrate, exclusive=True,
                                              timeout=READ_TIMEOUT_S)
        except Exception as exc:  # serial.SerialException, TransportError
            text = str(exc)
            if "lock" in text.lower() or "busy" in text.lower():
                raise DeviceError(f"{self.port}: busy, another program is using it (a serial "
                                  "console, mpremote, or a running trygg tool)") from None
            raise DeviceError(f"{self.port}: cannot open: {text}") from None
        try:
            # mpremote prints what it read on stdout when it gives up: our callers' stdout is
            # theirs (trygg provision --json), and the bytes say nothing to a technician.
            with contextlib.redirect_stdout(io.StringIO()):
                self._transport.enter_raw_repl(soft_reset=False,
                                               timeout_overall=self.repl_timeout)
        except TransportError:
            self.close()
            raise DeviceError(f"{self.port}: no MicroPython REPL answered; is MicroPython "
                              "flashed (trygg flash) and nothing else attached?") from None
        return self

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.exit_raw_repl()
            with contextlib.suppress(Exception):
                transport.close()

    def __enter__(self) -> "SerialDevice":
        return self if self._transport is not None else self.open()  # opened by a caller

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def transport(self) -> Any:
        if self._transport is None:
            raise DeviceError(f"{self.port}: not open")
        return self._transport

    # -- running code ----------------------------------------------------

    def exec(self, code: str) -> str:
        """Run ``code`` on the board; return what it printed. DeviceError on exception."""
        from mpremote.transport import TransportExecError

        try:
            out: bytes = self.transport.exec(code)
        except TransportExecError as exc:
            raise DeviceError(f"{self.port}: code failed on the device: "
                              f"{exc.error_output.strip().splitlines()[-1:]}") from None
        return out.decode("utf-8", errors="replace")

    def exec_json(self, code: str) -> Any:
        """Run ``code``, which must print exactly one JSON document last; return it."""
        out = self.exec(code).strip().splitlines()
        if not out:
            raise DeviceError(f"{self.port}: device printed nothing")
        try:
            return json.loads(out[-1])
        except ValueError:
            raise DeviceError(f"{self.port}: device answered {out[-1][:80]!r}, "
                              "expected JSON") from None

    def info(self) -> dict[str, Any]:
        """What runs on the board: implementation, version, .mpy version, platform."""
        info: dict[str, Any] = self.exec_json(
            "import sys, json\n"
            "i = sys.implementation\n"
            "print(json.dumps({'name': i.name, 'version': list(i.version[:3]),"
            " 'mpy': getattr(i, '_mpy', 0), 'platform': sys.platform}))\n")
        return info

    # -- files -----------------------------------------------------------

    def exists(self, path: str) -> bool:
        try:
            return bool(self.transport.fs_exists(path))
        except Exception as exc:  # mpremote wraps device-side failures in several types
            raise DeviceError(f"{self.port}: cannot look up {path} on the device: "
                              f"{str(exc).strip().splitlines()[-1:]}") from None

    def read_file(self, path: str) -> bytes | None:
        if not self.exists(path):
            return None
        data: bytes = self.transport.fs_readfile(path)
        return data

    def write_file(self, path: str, data: bytes,
                   progress: Callable[[int, int], None] | None = None) -> None:
        self._mkdirs(os.path.dirname(path))
        self.transport.fs_writefile(path, data, chunk_size=CHUNK, progress_callback=progress)

    def remove(self, path: str) -> None:
        if self.exists(path):
            self.transport.fs_rmfile(path)

    def remove_tree(self, folder: str) -> int:
        """Delete ``folder`` and all under it, if it exists; return how many files it held."""
        if not self.exists(folder):
            return 0
        removed = 0
        for entry in self.transport.fs_listdir(folder):
            path = f"{folder}/{entry.name}"
            if entry.st_mode & 0o040000:
                removed += self.remove_tree(path)
            else:
                self.transport.fs_rmfile(path)
                removed += 1
        self.transport.fs_rmdir(folder)
        return removed

    def _mkdirs(self, folder: str) -> None:
        parts = [p for p in folder.split("/") if p]
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            if not self.transport.fs_exists(sub):
                self.transport.fs_mkdir(sub)

    def put_tree(self, local: Path, progress: Callable[[str, int, int], None] | None = None
                 ) -> list[str]:
        """Copy every file under ``local`` to the same relative path on the board."""
        written = []
        files = sorted(p for p in local.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        done = 0
        for path in files:
            rel = path.relative_to(local).as_posix()
            data = path.read_bytes()

            def step(n: int, _size: int, rel: str = rel, base: int = done) -> None:
                if progress is not None:
                    progress(rel, base + n, total)

            self.write_file(rel, data, step)
            done += len(data)
            written.append(rel)
        return written

    def list_tree(self, folder: str = "") -> Iterator[str]:
        for entry in self.transport.fs_listdir(folder or "."):
            path = f"{folder}/{entry.name}" if folder else entry.name
            if entry.st_mode & 0o040000:
                yield from self.list_tree(path)
            else:
                yield path



def pulse_reset(port: str, baudrate: int = 115200) -> bool:
    """Reset the board through the USB-serial adapter's RTS line, as esptool does: on a
    development board (ESP32-DevKitC) RTS pulls EN low through the auto-reset transistors, and
    the chip starts as from a power-up. False when the port has no modem lines (a simulated
    board's pty, a bare UART on a programming jig): the technician presses the reset button."""
    import time

    import serial

    try:
        with serial.Serial(port, baudrate, exclusive=True) as tty:
            tty.dtr = False  # IO0 high: a normal boot, not the ROM's download mode
            tty.rts = True  # EN low
            time.sleep(0.1)
            tty.rts = False
    except (serial.SerialException, OSError):
        return False
    return True
