"""``trygg flash``: erase an ESP32 and write the MicroPython image the technician supplies.

The image is never downloaded: the technician brings the MicroPython release
for the board (e.g. ``ESP32_GENERIC-20250415-v1.25.0.bin``). Before anything is
erased we check, in order, that the image is an ESP application image for the
chip that answers, that the port exists, that no other program holds it, and
that an ESP32-family ROM bootloader answers on it -- and refuse with a plain
explanation otherwise. Writing is done by esptool (Espressif's own tool),
whose progress is shown as it goes.
"""

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

# First byte of every ESP application image (esptool's ESPLoader.ESP_IMAGE_MAGIC).
ESP_IMAGE_MAGIC = 0xE9
# Where the bootloader of a combined MicroPython image goes, per chip: the
# original ESP32 and the S2 boot from 0x1000, later chips from 0x0.
FLASH_OFFSET = {"ESP32": 0x1000, "ESP32-S2": 0x1000}
DEFAULT_OFFSET = 0x0
# Image header "chip id" (esp_image_header_t.chip_id, offset 12) per chip name.
IMAGE_CHIP_ID = {"ESP32": 0, "ESP32-S2": 2, "ESP32-C3": 5, "ESP32-S3": 9, "ESP32-C6": 13}
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # the largest ESP32 flash
CONNECT_ATTEMPTS = 2  # each attempt tries several reset sequences; a real board answers the first


class FlashError(Exception):
    """A refusal the technician can act on (message says what and what to do)."""


def register(sub: Any) -> None:
    p = sub.add_parser("flash", help="erase an ESP32 and write a MicroPython image (esptool)")
    p.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    p.add_argument("--firmware", required=True, type=Path,
                   help="MicroPython image for the board (.bin), as downloaded by you")
    p.add_argument("--baud", type=int, default=460800, help="write speed (default 460800)")
    p.add_argument("--no-erase", action="store_true", help="write without erasing first")
    p.set_defaults(func=_flash_command)


def read_image(path: Path) -> bytes:
    """The image bytes, or FlashError saying why this file is no ESP image."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FlashError(f"{path}: no such file; give the MicroPython .bin you downloaded "
                         "for this board") from None
    if size < 1024 or size > MAX_IMAGE_BYTES:
        raise FlashError(f"{path}: {size} bytes is not a plausible ESP32 image "
                         f"(expected 1 KiB .. {MAX_IMAGE_BYTES // 1024 // 1024} MiB)")
    data = path.read_bytes()
    if data[0] != ESP_IMAGE_MAGIC:
        raise FlashError(f"{path}: not an ESP application image (first byte 0x{data[0]:02x}, "
                         f"expected 0x{ESP_IMAGE_MAGIC:02x}); is it a .uf2, .elf or .zip?")
    return data


def image_chip_id(data: bytes) -> int:
    return int.from_bytes(data[12:14], "little")


def check_port(port: str) -> None:
    """Refuse a missing or busy port before esptool touches it."""
    if not os.path.exists(port):
        raise FlashError(f"{port}: no such port; is the board plugged in? "
                         "(list ports with: python -m serial.tools.list_ports)")

    import serial  # pyserial

    try:
        # exclusive=True takes an flock: fails when mpremote, a terminal or the
        # hub holds the port, instead of garbling both sides.
        with serial.Serial(port, exclusive=True, timeout=0):
            pass
    except serial.SerialException as exc:
        text = str(exc)
        if "lock" in text.lower() or "busy" in text.lower():
            raise FlashError(f"{port}: busy, another program is using it (a serial "
                             "console, mpremote, or trygg); close it and try again") from None
        raise FlashError(f"{port}: cannot open: {text}") from None


def connect(port: str, quiet: bool = True) -> Any:
    """Connect to the ROM bootloader; FlashError when no ESP32 answers."""
    from esptool.cmds import detect_chip

    sink = io.StringIO()
    try:
        with contextlib.ExitStack() as stack:
            if quiet:
                stack.enter_context(contextlib.redirect_stdout(sink))
                stack.enter_context(contextlib.redirect_stderr(sink))
            return detect_chip(port=port, connect_attempts=CONNECT_ATTEMPTS)
    except Exception as exc:  # esptool raises FatalError and serial errors
        raise FlashError(f"{port}: no ESP32 bootloader answered ({str(exc).splitlines()[0]}); "
                         "is this an ESP32? Hold BOOT while pressing EN to force the "
                         "bootloader, or check the USB cable carries data") from None


def flash(port: str, firmware: Path, *, baud: int = 460800, erase: bool = True,
          out: Any = sys.stdout) -> str:
    """Check everything, then erase and write; returns the chip description."""
    data = read_image(firmware)
    check_port(port)
    esp = connect(port)
    try:
        chip = str(esp.CHIP_NAME)
        if not chip.startswith("ESP32"):
            raise FlashError(f"{port}: the board is a {chip}, not an ESP32; Trygg firmware "
                             "runs on the ESP32 family only")
        wanted = IMAGE_CHIP_ID.get(chip)
        if wanted is not None and image_chip_id(data) != wanted:
            raise FlashError(f"{firmware}: image is built for another chip (chip id "
                             f"{image_chip_id(data)}), the board is a {chip}; download the "
                             f"MicroPython image for {chip}")
        offset = FLASH_OFFSET.get(chip, DEFAULT_OFFSET)
        from esptool.cmds import attach_flash, erase_flash, reset_chip, run_stub, write_flash

        print(f"{port}: {chip} found; writing {firmware.name} ({len(data):,} bytes) at "
              f"0x{offset:x}", file=out)
        esp = run_stub(esp)
        if baud != 115200:
            esp.change_baud(baud)
        attach_flash(esp)
        if erase:
            print("erasing flash (takes up to a minute) ...", file=out)
            erase_flash(esp)
        write_flash(esp, [(offset, data)])  # esptool prints progress per block
        reset_chip(esp, "hard-reset")
        return chip
    finally:
        with contextlib.suppress(Exception):
            esp._port.close()


def _flash_command(args: argparse.Namespace) -> int:
    from trygg.tools.device.serial_device import DeviceError, port_lock

    try:
        with port_lock(args.port):  # not while a provisioning runs on this board
            chip = flash(args.port, args.firmware, baud=args.baud, erase=not args.no_erase)
    except (FlashError, DeviceError) as exc:
        print(f"trygg flash: {exc}", file=sys.stderr)
        return 2
    print(f"done: MicroPython written to the {chip} on {args.port}; next: trygg provision "
          f"--port {args.port} --role ROLE --room ROOM --config /etc/trygg/hub.toml")
    return 0
