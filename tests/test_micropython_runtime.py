"""The MicroPython unix port runs device code the way an ESP32 would: the same heap limit and
the device packages as top-level packages."""

from __future__ import annotations

import pytest

import mpy

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
