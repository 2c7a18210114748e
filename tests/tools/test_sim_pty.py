"""A simulated board on a pty restarts itself like a chip and leaves nothing behind when closed."""

import os
import time
from pathlib import Path

from trygg.tools.device.serial_device import SerialDevice
from trygg.tools.sim.pty import PtyBoard

APP = b"import time\nwhile True:\n    print('app running')\n    time.sleep(0.5)\n"


def supervisors_of(flash: Path) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"supervise" in cmdline and str(flash).encode() in cmdline:
                found.append(int(pid))
    return found


def test_reset_restarts_the_board_and_stopping_it_ends_every_process(tmp_path: Path,
                                                                     micropython_bin: Path
                                                                     ) -> None:
    board = PtyBoard(tmp_path / "board").start()
    try:
        with SerialDevice(board.port) as dev:
            dev.write_file("main.py", APP)
            dev.transport.exec_raw_no_follow("import sys\nsys.exit(75)\n")  # a reset
            # main.py did not exist when the board booted, so its output on the pty can only
            # come from the board started again after the reset.
            dev.transport.serial.timeout = 0.5
            seen = b""
            deadline = time.monotonic() + 20
            while b"app running" not in seen:
                assert time.monotonic() < deadline, f"the application did not come back: {seen!r}"
                seen += dev.transport.serial.read(256)
        assert "exited with 75" in board.log_path.read_text()  # the reset, seen as one
    finally:
        board.stop()
    deadline = time.monotonic() + 10
    while supervisors_of(board.fs):
        assert time.monotonic() < deadline, "a supervisor outlived its board"
        time.sleep(0.1)
    board.close()
