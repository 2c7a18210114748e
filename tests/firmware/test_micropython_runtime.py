"""The MicroPython unix port runs device code the way an ESP32 would: the same heap limit and
the device packages as top-level packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import mpy
from trygg.tools.device.tree import romfs_image
from trygg.tools.sim.launch import ESP32_HEAPSIZE, heap_bytes

pytestmark = pytest.mark.micropython


def test_run_micropython_runs_the_micropython_implementation(
    run_micropython: mpy.RunMicroPython,
) -> None:
    result = run_micropython("import sys; print(sys.implementation.name)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "micropython"


def test_device_packages_import_as_top_level_packages(
    run_micropython: mpy.RunMicroPython,
) -> None:
    result = run_micropython("import firmware, hw\nprint('ok')")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


def test_heap_is_limited_like_an_esp32(run_micropython: mpy.RunMicroPython) -> None:
    # 110 KiB heap: a 200 kB buffer must fail as it would on the device.
    result = run_micropython("b = bytearray(200_000)", heapsize="110k")
    assert result.returncode != 0
    assert "MemoryError" in result.stdout + result.stderr


def test_romfs_image_holds_the_compiled_packages_and_is_reproducible(
    run_micropython: mpy.RunMicroPython, tmp_path: Path
) -> None:
    image = romfs_image(arch=None)
    assert romfs_image(arch=None) == image
    (tmp_path / "packages.romfs").write_bytes(image)
    # Mounted as the ESP32 mounts its ROMFS partition: the packages import from /rom alone
    # (MICROPYPATH has the staged filesystem too; /rom comes first, as on the device). The unix
    # port has no flash to map: the image is read into the heap, which gets room for it on top
    # of the device's (the launcher of the simulated boards does the same, tools/sim/launch.py).
    heapsize = str(heap_bytes(ESP32_HEAPSIZE) + 2 * len(image))
    result = run_micropython(f"""
import os, sys, vfs
with open({str(tmp_path / "packages.romfs")!r}, "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")
sys.path.insert(0, "/rom")
import protocol.cose, firmware.device, hw.storage

def walk(folder):
    for name, kind, *_ in os.ilistdir(folder):
        path = folder + "/" + name
        if kind == 0x4000:
            walk(path)
        else:
            print(path)

walk("/rom")
print("module", protocol.cose.__file__)
""", heapsize=heapsize)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = result.stdout.split()
    assert listed[-2:] == ["module", "/rom/protocol/cose.mpy"]
    sources = sorted("/rom/" + p.relative_to(mpy.REPO_ROOT).with_suffix(".mpy").as_posix()
                     for p in mpy.device_sources())
    assert sorted(listed[:-2]) == sources  # every device module, compiled; nothing else
