"""`trygg flash` refuses clearly before erasing anything.

No ESP32 can be attached in CI, so the write itself is not exercised here (the
hardware-in-the-loop run does that); every refusal is tested against real
pseudo-terminals, a real lock and real files.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from trygg.tools.device import flash


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[Path]:
    """A pseudo-terminal with nothing answering on the other end (socat)."""
    link = tmp_path / "tty"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={link}",
                             f"pty,raw,echo=0,link={tmp_path / 'other'}"],
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not link.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert link.exists(), "socat did not create the pty"
    yield link
    proc.kill()
    proc.wait()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "micropython-esp32.bin"
    path.write_bytes(bytes([flash.ESP_IMAGE_MAGIC]) + bytes(4095))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "flash", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_missing_port_is_refused_with_a_hint(image: Path) -> None:
    proc = run_cli("--port", "/dev/ttyUSB-not-there", "--firmware", str(image))
    assert proc.returncode == 2
    assert "no such port" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_file_that_is_not_an_esp_image_is_refused_before_the_port_is_touched(
        tmp_path: Path) -> None:
    bogus = tmp_path / "firmware.uf2"
    bogus.write_bytes(b"UF2\n" + bytes(4096))
    proc = run_cli("--port", "/dev/ttyUSB-not-there", "--firmware", str(bogus))
    assert proc.returncode == 2
    assert "not an ESP application image" in proc.stderr


def test_missing_image_file_is_refused(tmp_path: Path) -> None:
    proc = run_cli("--port", "/dev/null", "--firmware", str(tmp_path / "nope.bin"))
    assert proc.returncode == 2
    assert "no such file" in proc.stderr


def test_port_held_by_another_program_is_refused_as_busy(pty_pair: Path, image: Path) -> None:
    with serial.Serial(str(pty_pair), exclusive=True):
        proc = run_cli("--port", str(pty_pair), "--firmware", str(image))
    assert proc.returncode == 2
    assert "busy" in proc.stderr


def test_port_where_no_esp32_answers_is_refused(pty_pair: Path, image: Path) -> None:
    proc = run_cli("--port", str(pty_pair), "--firmware", str(image))
    assert proc.returncode == 2
    assert "no ESP32 bootloader answered" in proc.stderr
    assert "Traceback" not in proc.stderr
