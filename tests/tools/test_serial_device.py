"""The serial path to a board works against a real MicroPython REPL on a pseudo-terminal.

The board is the MicroPython unix port attached to a pty by socat: the same raw
REPL a USB-attached ESP32 offers (the ESP32's USB-UART itself cannot be here).
"""

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trygg.tools.device.serial_device import DeviceError, SerialDevice


@pytest.fixture
def pty_board(tmp_path: Path, micropython_bin: Path) -> Iterator[tuple[Path, Path]]:
    """(port, flash folder): a MicroPython REPL on a pty, its cwd standing in for flash."""
    flash = tmp_path / "flash"
    flash.mkdir()
    port = tmp_path / "ttyBOARD"
    proc = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={port}",
         f"EXEC:{micropython_bin} -i,pty,raw,echo=0,stderr,setsid,ctty"],
        cwd=flash, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert port.exists(), "socat did not create the pty"
    yield port, flash
    proc.terminate()
    proc.wait(timeout=5)


def test_exec_and_info_through_the_raw_repl(pty_board: tuple[Path, Path]) -> None:
    port, _ = pty_board
    with SerialDevice(str(port)) as dev:
        info = dev.info()
        assert info["name"] == "micropython"
        assert dev.exec_json("import json; print(json.dumps(6 * 7))") == 42


def test_files_are_written_read_back_and_listed(pty_board: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    port, flash = pty_board
    tree = tmp_path / "tree"
    (tree / "protocol").mkdir(parents=True)
    (tree / "protocol" / "a.py").write_text("X = 1\n" * 200)
    (tree / "main.py").write_text("import protocol.a\n")
    seen: list[int] = []
    with SerialDevice(str(port)) as dev:
        written = dev.put_tree(tree, lambda _name, done, _total: seen.append(done))
        assert sorted(written) == ["main.py", "protocol/a.py"]
        assert dev.read_file("protocol/a.py") == (tree / "protocol" / "a.py").read_bytes()
        assert sorted(dev.list_tree()) == ["main.py", "protocol/a.py"]
        assert dev.read_file("missing.json") is None
    assert (flash / "protocol" / "a.py").exists()
    assert seen[-1] == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


def test_error_on_the_device_is_reported_not_raised_as_a_traceback(
        pty_board: tuple[Path, Path]) -> None:
    port, _ = pty_board
    with SerialDevice(str(port)) as dev, pytest.raises(DeviceError, match="failed on the device"):
        dev.exec("1/0")


def test_missing_port_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="no such port"):
        SerialDevice("/dev/ttyUSB-none").open()


def test_busy_port_is_a_clear_error(pty_board: tuple[Path, Path]) -> None:
    port, _ = pty_board
    with SerialDevice(str(port)), pytest.raises(DeviceError, match="busy"):
        SerialDevice(str(port)).open()
