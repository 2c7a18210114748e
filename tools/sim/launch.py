"""How a simulated board's MicroPython process is launched (tools/sim/board.py, tools/sim/pty.py).

Kept apart from simboard.py, which brings an MQTT client and the protocol code with it, so
that the pty boards' supervisor, which runs for every board, stays light to start.
"""

import os
from pathlib import Path

from trygg.tools.device.tree import romfs_image

# What an ESP32 without PSRAM leaves MicroPython is about 110 KB (ESP32_HEAPSIZE), and simulated
# boards run with exactly that, although on the 64-bit unix port every object pointer, dict slot
# and qstr entry is twice the ESP32's size: what fits here fits there. `trygg bench firmware`
# gives the heap after boot per role and per module; tests/firmware/test_heap.py holds each
# role to it with working room to spare.
ESP32_HEAPSIZE = "110k"


# The sim's stand-in for what an ESP32 with a ROMFS partition does before /main.py (the
# ports' _boot.py: mount the partition at /rom, put /rom first on sys.path), see the docstring
# of tools/sim/board.py. Run as `micropython <this> main.py` in the board's filesystem folder, with
# TRYGG_SIM_ROMFS naming the image and TRYGG_SIM_DEVICE_POOL the GC pool of the device's heap.
# Everything in the pool above the device's is taken as one buffer, the sim's flash, and the
# image is read into it: the firmware is left exactly the device's heap, and the sim HAL
# learns the buffer's size from TRYGG_SIM_FLASH_HEAP (measured around its allocation) to
# leave it out of the heap in use.
ROMFS_LAUNCHER = """\
import gc, os, sys, vfs
path = os.getenv("TRYGG_SIM_ROMFS")
size = os.stat(path)[6]
pool = int(os.getenv("TRYGG_SIM_DEVICE_POOL"))
flash = None
gc.collect()
heap = gc.mem_alloc()
flash = bytearray(heap + gc.mem_free() - pool - 32)  # less one block: the bytearray's header
heap = gc.mem_alloc() - heap
if len(flash) < size:
    raise MemoryError("no room for the %d-byte ROMFS image" % size)
os.putenv("TRYGG_SIM_FLASH_HEAP", str(heap))
image = memoryview(flash)[:size]
with open(path, "rb") as f:
    f.readinto(image)
vfs.mount(vfs.VfsRom(image), "/rom")
sys.path[0] = ""  # this script's folder: the board's filesystem (the current folder) instead
sys.path.insert(0, "/rom")
del gc, os, vfs, path, size, pool, heap, f
if len(sys.argv) > 1:  # the board's /main.py; a fresh board (sim_pty, -i) has only the REPL
    with open(sys.argv[1]) as f:
        source = f.read()
    del f
    exec(source)
"""
ROMFS_IMAGE = "romfs.img"
ROMFS_LAUNCHER_FILE = "romfs_launcher.py"
# Heap a ROMFS board's process gets on top of the device's heap and the image: what the GC's
# allocation tables take of the added heap (~1.2%), and the alignment of the heap's ends.
_LAUNCHER_SLACK = 2048


def heap_bytes(heapsize: str) -> int:
    """``-X heapsize`` syntax (``110k``, ``1m``, bytes) in bytes."""
    scale = {"k": 1024, "m": 1024 * 1024}.get(heapsize[-1:].lower(), 1)
    return int(heapsize.rstrip("kKmM")) * scale


def gc_pool(heapsize: str) -> int:
    """Bytes for objects in a heap of ``heapsize`` on the 64-bit unix port (gc.mem_alloc() +
    gc.mem_free()): py/gc.c (gc_setup_area) keeps one allocation-table byte per 4 blocks of
    32 bytes and a finaliser bit per block, less a one-byte gap."""
    return (heap_bytes(heapsize) - 1) * 8 // (8 + 4 + 4 * 32 * 8) * 4 * 32


def stage_romfs(folder: Path) -> int:
    """Write the ROMFS image of the packages and its launcher into ``folder`` (the board's
    flash outside its filesystem); return the image's size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    image = romfs_image(arch=None)  # portable bytecode, as stage_board
    (folder / ROMFS_IMAGE).write_bytes(image)
    (folder / ROMFS_LAUNCHER_FILE).write_text(ROMFS_LAUNCHER)
    return len(image)


def micropython_command(micropython: Path, heapsize: str, script: str | None, fs: Path,
                        romfs: Path | None, *, interactive: bool = False
                        ) -> tuple[list[str], dict[str, str]]:
    """Arguments and environment running ``script`` in the board filesystem ``fs``, with the
    packages from there (files mode) or from the ROMFS image staged in folder ``romfs``
    (:func:`stage_romfs`); run them with ``cwd=fs``. ``heapsize`` is the device's.
    ``interactive``: the REPL after the script, or instead of it when ``script`` is None (a
    board on a serial line, tools/sim/pty.py)."""
    env = {**os.environ, "TRYGG_SIM_ROOT": str(fs)}
    scripts = [script] if script else []
    args = [str(micropython), "-X", f"heapsize={heapsize}"] + (["-i"] if interactive else [])
    if romfs is None:
        env["MICROPYPATH"] = f".frozen:{fs}"
        return args + scripts, env
    image = romfs / ROMFS_IMAGE
    env.update(MICROPYPATH=".frozen", TRYGG_SIM_ROMFS=str(image),
               TRYGG_SIM_DEVICE_POOL=str(gc_pool(heapsize)))
    args[2] = f"heapsize={heap_bytes(heapsize) + image.stat().st_size + _LAUNCHER_SLACK}"
    return [*args, str(romfs / ROMFS_LAUNCHER_FILE), *scripts], env
