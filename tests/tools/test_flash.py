"""`trygg flash` refuses clearly before erasing anything.

Every refusal is tested, through the command, against real pseudo-terminals, a real lock and
real files. The two that need a chip to answer (a board that is no ESP32, an image for
another ESP32 model) answer through a stand-in for the chip's ROM bootloader on the other end
of a pty (RomBootloader below: no chip can be attached here), so esptool's own chip detection
runs. The failures after detection (esptool's flasher stub, the baud change, the flash chip,
erase, write, verify) are provoked the same way: the stand-in plays the stub well enough for
the real esptool to go on (every command answered "ok", registers read as 0, MD5 of zeros)
until the step under test, where it goes silent, garbles or answers wrong. Whether a real
chip's erase and write succeed is tried only by `trygg flash` on a real board.
"""

import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from trygg.tools.device import flash

# ROM bootloader serial protocol (esptool, "Serial Protocol"): SLIP-framed packets, a request
# (direction 0, command, size, checksum, data) answered by a response (direction 1, the same
# command, size, a 32-bit value, data ending in status bytes).
SLIP_END, SLIP_ESC = 0xC0, 0xDB
SYNC, READ_REG = 0x08, 0x0A
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
CHANGE_BAUDRATE, SPI_ATTACH, ERASE_FLASH = 0x0F, 0x0D, 0xD0
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, SPI_FLASH_MD5 = 0x10, 0x11, 0x13
FLASH_JEDEC_ID = 0x4016EF  # Winbond W25Q32 (manufacturer 0xEF, 4 MB)
SPI_W0_REG = struct.pack("<I", 0x3FF42000 + 0x80)  # ESP32 SPI0 W0: what esptool reads it from
CHIP_DETECT_MAGIC_REG = 0x40001000
# The value of that register per chip (esptool's targets: ESP8266ROM / ESP32ROM.MAGIC_VALUE).
ESP8266_MAGIC, ESP32_MAGIC = 0xFFF0C101, 0x00F01D83
# Commands that would change the flash or run code: none may arrive before a refusal.
CHANGING = {0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x10, 0x11, 0x12, 0xD0, 0xD1}


class RomBootloader:
    """A stand-in for a chip's ROM bootloader on a pty: answers SYNC and the chip-detect
    register read as the chip whose magic value it is given, and every other command with
    "failed: invalid message" (as the ESP8266/ESP32 ROM answers GET_SECURITY_INFO). Records
    the commands it received.

    ``stub``: plays esptool's flasher stub as well (RAM upload accepted, "OHAI", then every
    command "ok" with two status bytes, as the stub answers), until the command ``fail_on``
    arrives (SYNC and READ_REG: once the stub runs), which gets ``fault``: "silent" (no
    answer, ever again), "garble" (bytes that are no packet) or "error" (a failure status)."""

    def __init__(self, port: Path, magic: int, *, stub: bool = False,
                 fail_on: int | None = None, fault: str = "silent") -> None:
        self.magic = magic
        self.stub, self.fail_on, self.fault = stub, fail_on, fault
        self.in_stub = self.silent = False
        self.commands: list[int] = []
        self._tty = serial.Serial(str(port), timeout=0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "RomBootloader":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._tty.close()

    def _send(self, command: int, value: int, data: bytes) -> None:
        body = struct.pack("<BBHI", 1, command, len(data), value) + data
        body = body.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
        self._tty.write(b"\xc0" + body + b"\xc0")

    def _answer(self, packet: bytes) -> None:
        if len(packet) < 8 or packet[0] != 0:
            return
        command = packet[1]
        self.commands.append(command)
        if self.silent:
            return
        if command == self.fail_on and (self.in_stub or command not in (SYNC, READ_REG)):
            if self.fault == "silent":
                self.silent = True
            elif self.fault == "garble":
                self._tty.write(bytes(range(0x41, 0x5B)) * 8)
            else:
                self._send(command, 0, b"\x01\x07" if self.in_stub else b"\x01\x07\x00\x00")
            return
        if self.in_stub:
            data = b""
            if command == SPI_FLASH_MD5:
                data = bytes(16)  # the MD5 of flash that holds zeros, not the image
            # The SPI data register holds a 4 MB Winbond flash's JEDEC id; every other register
            # reads 0 (eFuses: no secure boot, no flash encryption; SPI: never busy).
            value = FLASH_JEDEC_ID if packet[8:12] == SPI_W0_REG else 0
            self._send(command, value, data + b"\x00\x00")
            return
        ok = b"\x00\x00\x00\x00"  # status bytes: success (ESP32 ROMs send four)
        if self.stub and command in (MEM_BEGIN, MEM_DATA):
            self._send(command, 0, ok)
        elif self.stub and command == MEM_END:
            self._send(command, 0, ok)
            self._tty.write(b"\xc0OHAI\xc0")  # the stub's greeting once it runs
            self.in_stub = True
        elif command == SYNC:
            for _ in range(8):  # the ROM answers a SYNC eight times
                self._send(SYNC, 0x20120707, ok)
        elif command == READ_REG and packet[8:12] == struct.pack("<I", CHIP_DETECT_MAGIC_REG):
            self._send(READ_REG, self.magic, ok)
        else:
            self._send(command, 0, b"\x01\x05\x00\x00")  # failed: invalid message

    def _serve(self) -> None:
        packet, escaped, inside = bytearray(), False, False
        while not self._stop.is_set():
            for byte in self._tty.read(256):
                if byte == SLIP_END:
                    if inside and packet:
                        self._answer(bytes(packet))
                    packet, inside = bytearray(), True
                elif inside and escaped:
                    packet.append(SLIP_END if byte == 0xDC else SLIP_ESC)
                    escaped = False
                elif inside and byte == SLIP_ESC:
                    escaped = True
                elif inside:
                    packet.append(byte)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[Path]:
    """A pseudo-terminal with nothing answering on the other end (socat)."""
    link, other = tmp_path / "tty", tmp_path / "other"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={link}",
                             f"pty,raw,echo=0,link={other}"],
                            stderr=subprocess.DEVNULL)
    # socat makes the two links one after the other: wait for both (a test opening the other
    # end found it missing on a loaded machine).
    deadline = time.monotonic() + 5
    while not (link.exists() and other.exists()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert link.exists(), "socat did not create the pty"
    assert other.exists(), "socat did not create the pty's other end"
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


def test_board_that_is_not_an_esp32_is_refused_before_anything_is_written(
        pty_pair: Path, image: Path) -> None:
    with RomBootloader(pty_pair.with_name("other"), ESP8266_MAGIC) as rom:
        proc = run_cli("--port", str(pty_pair), "--firmware", str(image))
    assert proc.returncode == 2, proc.stderr
    assert "the board is a ESP8266, not an ESP32" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert READ_REG in rom.commands  # the chip was asked what it is
    assert not CHANGING & set(rom.commands), rom.commands


def test_image_for_another_esp32_model_is_refused_before_anything_is_written(
        pty_pair: Path, tmp_path: Path) -> None:
    c3_image = tmp_path / "ESP32_GENERIC_C3.bin"
    header = bytearray([flash.ESP_IMAGE_MAGIC]) + bytes(4095)
    header[12:14] = flash.IMAGE_CHIP_ID["ESP32-C3"].to_bytes(2, "little")
    c3_image.write_bytes(header)
    with RomBootloader(pty_pair.with_name("other"), ESP32_MAGIC) as rom:
        proc = run_cli("--port", str(pty_pair), "--firmware", str(c3_image))
    assert proc.returncode == 2, proc.stderr
    assert "image is built for another chip (chip id 5), the board is a ESP32" in proc.stderr
    assert "download the MicroPython image for ESP32" in proc.stderr
    assert READ_REG in rom.commands
    assert not CHANGING & set(rom.commands), rom.commands


# -- failures after the chip answered (esptool's steps) -----------------------------------------

def flash_against(pty_pair: Path, image: Path, fail_on: int, fault: str,
                  *args: str) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    with RomBootloader(pty_pair.with_name("other"), ESP32_MAGIC, stub=True, fail_on=fail_on,
                       fault=fault) as rom:
        proc = run_cli("--port", str(pty_pair), "--firmware", str(image), *args)
    return proc, rom.commands


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The whole of stderr: one line, no traceback, and no success claimed on stdout."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "done:" not in proc.stdout, proc.stdout
    return lines[0]


@pytest.mark.parametrize("fault", ["silent", "garble"])
def test_a_board_that_stops_answering_at_the_stub_upload_is_one_line_nothing_changed(
        pty_pair: Path, image: Path, fault: str) -> None:
    proc, commands = flash_against(pty_pair, image, MEM_BEGIN, fault)
    line = one_line_error(proc)
    assert proc.returncode == 2, line
    assert line.startswith(f"trygg flash: {pty_pair}: uploading esptool's flasher program")
    assert "nothing on the board was changed" in line
    assert "replug the board" in line
    assert "hold BOOT" in line
    assert "cable" in line
    assert not {ERASE_FLASH, FLASH_DEFL_BEGIN} & set(commands)


def test_a_baud_rate_the_line_does_not_carry_says_try_a_slower_one(
        pty_pair: Path, image: Path) -> None:
    proc, _ = flash_against(pty_pair, image, CHANGE_BAUDRATE, "silent", "--baud", "921600")
    line = one_line_error(proc)
    assert proc.returncode == 2, line
    assert "switching the serial line to 921600 baud failed" in line
    assert "--baud 115200" in line
    assert "nothing on the board was changed" in line


def test_a_flash_chip_that_does_not_answer_is_one_line_nothing_changed(
        pty_pair: Path, image: Path) -> None:
    proc, commands = flash_against(pty_pair, image, READ_REG, "garble", "--baud", "115200")
    line = one_line_error(proc)
    assert proc.returncode == 2, line
    assert "reading the board's flash chip failed" in line
    assert ERASE_FLASH not in commands


def test_an_erase_that_fails_says_the_board_will_not_start_until_flashed(
        pty_pair: Path, image: Path) -> None:
    proc, commands = flash_against(pty_pair, image, ERASE_FLASH, "error")
    line = one_line_error(proc)
    assert proc.returncode == 3, line
    assert f"{pty_pair}: erasing the flash failed" in line
    assert "will not start until trygg flash succeeds" in line
    assert "replug" in line
    assert FLASH_DEFL_BEGIN not in commands


def test_a_write_that_stops_midway_says_the_flash_is_incomplete(
        pty_pair: Path, image: Path) -> None:
    proc, _ = flash_against(pty_pair, image, FLASH_DEFL_DATA, "silent", "--no-erase")
    line = one_line_error(proc)
    assert proc.returncode == 3, line
    assert f"writing {image.name} at 0x1000 failed" in line
    assert "incomplete" in line
    assert "--baud 115200" in line


def test_a_write_whose_checksum_differs_is_a_failed_verification(
        pty_pair: Path, image: Path) -> None:
    # The stand-in reports the MD5 of an empty flash, not of the image.
    proc, commands = flash_against(pty_pair, image, -1, "silent")
    line = one_line_error(proc)
    assert SPI_FLASH_MD5 in commands
    assert proc.returncode == 3, line
    assert "verifying what was written" in line
    assert "incomplete" in line

