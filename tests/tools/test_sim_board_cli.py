"""`trygg sim board` as a technician runs it: from a relative folder, in the background, stopped
with `kill PID` (or kill -9), with a `next:` line that can be pasted, a control channel that
says what it understands, and a `--help` without argparse's internals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trygg.tools.device.serial_device import SerialDevice

TRYGG = [sys.executable, "-m", "trygg.tools.cli.main"]
pytestmark = pytest.mark.usefixtures("micropython_bin")


def board_processes(marker: str) -> list[int]:
    """socat, supervisor and MicroPython processes whose command line names ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline and b"sim board" not in cmdline.replace(b"\0", b" "):
                found.append(int(pid))
    return found


def start_board(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen([*TRYGG, "sim", "board", "--json", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return proc, json.loads(line)


def wait_gone(marker: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while board_processes(marker):
        assert time.monotonic() < deadline, f"board processes left: {board_processes(marker)}"
        time.sleep(0.1)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["kill", "kill-9"])
def test_a_board_in_a_relative_folder_runs_and_kill_unplugs_it(tmp_path: Path,
                                                               how: signal.Signals) -> None:
    proc, info = start_board(tmp_path, "--dir", "board", "--romfs")
    flash = tmp_path / "board" / "flash"
    try:
        assert info["flash"] == str(flash)  # absolute: the supervisor runs inside it
        assert board_processes(str(flash))
        # The board works from its relative folder: its REPL answers, its ROMFS image is
        # mounted (a relative path named nothing from inside the flash folder).
        with SerialDevice(str(info["port"])) as dev:
            assert dev.exec_json("import os, json\nprint(json.dumps(os.listdir('/rom')))\n")
        proc.send_signal(how)
        proc.wait(timeout=15)
        wait_gone(str(flash))
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in board_processes(str(flash)):
            os.kill(pid, signal.SIGKILL)


def test_the_printed_next_step_names_the_configuration_and_help_has_no_internals(
        tmp_path: Path) -> None:
    proc = subprocess.Popen([*TRYGG, "sim", "board", "--role", "motion", "--dir", "b",
                             "--config", "/srv/hub.toml"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        nxt = next(line for line in lines if "next:" in line)
        assert "--role motion --room ROOM --config /srv/hub.toml" in nxt
        assert any("socat - TCP:127.0.0.1:" in line and "help" in line for line in lines)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    wait_gone(str(tmp_path / "b" / "flash"))
    shown = subprocess.run([*TRYGG, "sim", "--help"], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0
    assert "SUPPRESS" not in shown.stdout
    assert "supervise" not in shown.stdout
    assert "board" in shown.stdout


def test_the_control_channel_lists_its_commands_and_the_roles_signals(
        micropython_bin: Path) -> None:
    from trygg.tools.sim.board import SimBoard, board_config
    from trygg.tools.sim.mosquitto import free_port

    # No broker: the firmware keeps trying to reach it, and its hardware is there all along.
    with SimBoard(board_config("motion", free_port()), micropython=micropython_bin) as board:
        reply = board.control("help")
        assert reply.startswith("ok signals: door pir | commands: pin <signal> <0|1>;")
        assert "pulse <signal> [ms]" in reply
        assert "battery <mV>" in reply
        with pytest.raises(RuntimeError, match=r"unknown command .* \(try: help\)"):
            board.control("pules pir")
