"""``trygg flash``: erase an ESP32 and write the MicroPython image the technician supplies.

The image is never downloaded: the technician brings the MicroPython release
for the board (e.g. ``ESP32_GENERIC-20250415-v1.25.0.bin``). Before anything is
erased we check, in order, that the image is an ESP application image for the
chip that answers, that the port exists, that no other program holds it, and
that an ESP32-family ROM bootloader answers on it -- and refuse with a plain
explanation otherwise. Writing is done by esptool (Espressif's own tool),
whose progress is shown as it goes.

Once the chip has answered, each of esptool's steps (its flasher program into the
chip's RAM, the faster baud rate, the flash chip, erase, write, verify, reset)
that fails ends the run with one line: which step, on which port, whether the
board's flash was changed, and what to do. Exit status 2: nothing on the board
was changed; 3: the flash was erased or partly written, and the board will not
start until a flash succeeds. Ctrl-C is reported the same way (130 before esptool's
first step).
"""

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator
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
# The ROM bootloader's own speed up to what ESP32 USB-serial bridges carry (CP2102N: 3 Mbaud).
BAUD_MIN, BAUD_MAX = 9600, 3_000_000
CONNECT_ATTEMPTS = 2  # each attempt tries several reset sequences; a real board answers the first


class FlashError(Exception):
    """A refusal the technician can act on (message says what and what to do).
    ``changed``: the board's flash was erased or partly written before the failure."""

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


# What to do when a step fails. A ROM bootloader that answered detection and then stops is
# usually a board that reset (a loose plug, a brown-out on a weak USB port) or a cable that
# drops bytes at speed; the flash chip failing is rarer.
REPLUG = ("replug the board (or hold BOOT while pressing EN) and run trygg flash again; if it "
          "fails again, use another USB cable (a short data cable, no hub)")
SLOWER = ("run trygg flash again with --baud 115200 (long cables and some USB-serial chips "
          "do not carry 460800); if it fails again, replug the board or use another cable")
STEPS = {
    "stub": ("uploading esptool's flasher program into the board's RAM", REPLUG),
    "baud": ("switching the serial line to {baud} baud", SLOWER),
    "attach": ("reading the board's flash chip", REPLUG + "; a board that always fails here "
               "may have a faulty flash chip"),
    "erase": ("erasing the flash", REPLUG),
    "write": ("writing {image} at 0x{offset:x}", SLOWER),
    "verify": ("verifying what was written (its checksum differs from the image's)", SLOWER),
    "reset": ("restarting the board after writing", "press EN (RESET) on the board or replug "
              "it; MicroPython is written and verified"),
}


# esptool's commands that change the flash (ESPLoader.ESP_CMDS): until one was sent, a failure
# left the board as it was (esptool refuses some boards before erasing, e.g. secure boot on).
FLASH_CHANGING_COMMANDS = ("FLASH_BEGIN", "FLASH_DEFL_BEGIN", "ERASE_FLASH", "ERASE_REGION",
                           "FLASH_ENCRYPT_DATA")


class ChangeWatch:
    """Notes whether esptool sent the board a command that changes its flash, so a failure
    says truthfully whether the board was touched."""

    def __init__(self, esp: Any) -> None:
        self.changed = False
        ops = {esp.ESP_CMDS[name] for name in FLASH_CHANGING_COMMANDS if name in esp.ESP_CMDS}
        send = esp.command

        def command(op: Any = None, *args: Any, **kwargs: Any) -> Any:
            if op in ops:
                self.changed = True
            return send(op, *args, **kwargs)

        esp.command = command


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "") or type(exc).__name__


@contextlib.contextmanager
def _step(name: str, port: str, watch: ChangeWatch | None, **fields: Any) -> Iterator[None]:
    """Run one esptool step; any failure becomes one FlashError line saying which step, on
    which port, what state the board is left in (``watch``: whether the flash was changed),
    and what to do."""
    what, todo = STEPS[name]
    what = what.format(**fields)
    try:
        yield
    except FlashError:
        raise
    except BaseException as exc:
        if not isinstance(exc, Exception | KeyboardInterrupt):
            raise
        changed = watch is not None and watch.changed
        if changed:
            state = ("the board's flash is incomplete now and the board will not start until "
                     "trygg flash succeeds")
        elif name == "reset":
            state = "the flash is complete"
        else:
            state = "nothing on the board was changed"
        if isinstance(exc, KeyboardInterrupt):
            raise FlashError(f"{port}: interrupted while {what}; {state}; run trygg flash "
                             "again", changed) from None
        # esptool's FatalError, pyserial's errors, OSError, garbage on the line
        if name == "write" and "md5" in str(exc).lower():
            what, todo = STEPS["verify"]
        elif "security features" in str(exc).lower():
            todo = ("this board has secure boot or flash encryption enabled; Trygg flashes only "
                    "boards without them: use another board")
        raise FlashError(f"{port}: {what} failed ({_first_line(exc)}); {state}; {todo}",
                         changed) from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "flash", help="erase an ESP32 and write a MicroPython image (esptool)",
        description="Check the image, the port and the chip, then erase the ESP32's flash and "
        "write the MicroPython image with esptool. Nothing is erased until the chip has "
        "answered and matches the image.",
        epilog="Exit status: 0 written, verified and restarted; 2 refused or failed with "
        "nothing on the board changed; 3 failed after the flash was erased or partly written "
        "(the board will not start until trygg flash succeeds); 130 interrupted before "
        "writing. Every failure says which step failed on which port and what to do.")
    p.add_argument("--port", required=True,
                   help="serial port of the board, e.g. /dev/ttyUSB0 (Linux) or /dev/ttyACM0 "
                   "(boards with native USB); list them with python -m serial.tools.list_ports")
    p.add_argument("--firmware", required=True, type=Path,
                   help="the MicroPython image (.bin) you downloaded for this board's chip, "
                   "e.g. ESP32_GENERIC-20250415-v1.25.0.bin; never downloaded for you")
    p.add_argument("--baud", type=_baud, default=460800,
                   help="serial speed for erasing and writing once the chip has answered "
                   "(default 460800; use 115200 when writing fails on a long cable)")
    p.add_argument("--no-erase", action="store_true",
                   help="write over the old contents without erasing the whole flash first "
                   "(faster; MicroPython's old files and settings stay on the board)")
    p.set_defaults(func=_flash_command)


def _baud(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not BAUD_MIN <= value <= BAUD_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a serial speed {BAUD_MIN}..{BAUD_MAX}, e.g. 115200 or 460800")
    return value


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
        with _step("stub", port, None):
            esp = run_stub(esp)
        watch = ChangeWatch(esp)
        if baud != 115200:
            with _step("baud", port, watch, baud=baud):
                esp.change_baud(baud)
        with _step("attach", port, watch):
            attach_flash(esp)
        if erase:
            print("erasing flash (takes up to a minute) ...", file=out)
            with _step("erase", port, watch):
                erase_flash(esp)
        # esptool prints progress per block, then checks the flash's MD5 against the image.
        with _step("write", port, watch, image=firmware.name, offset=offset):
            write_flash(esp, [(offset, data)])
        with _step("reset", port, None):
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
    except FlashError as exc:
        print(f"trygg flash: {exc}", file=sys.stderr)
        return 3 if exc.changed else 2
    except DeviceError as exc:
        print(f"trygg flash: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before esptool's first step: nothing was changed
        print(f"trygg flash: {args.port}: interrupted before anything was written; nothing "
              "on the board was changed", file=sys.stderr)
        return 130
    print(f"done: MicroPython written to the {chip} on {args.port}; next: trygg provision "
          f"--port {args.port} --role ROLE --room ROOM --config /etc/trygg/hub.toml")
    return 0
