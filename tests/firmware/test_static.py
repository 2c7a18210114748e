"""Static checks of device code (firmware/, protocol/, hw/): it compiles with mpy-cross for the
ESP32 and type-checks against the ESP32 port's stubs, so a CPython-only import or a call the
port does not have fails here rather than on a device in someone's home."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from support import mpy

DEVICE_FILES = mpy.device_sources()


def _rel(path: Path) -> str:
    return path.relative_to(mpy.REPO_ROOT).as_posix()


@pytest.mark.parametrize("source", DEVICE_FILES, ids=_rel)
def test_device_file_compiles_with_mpy_cross_for_esp32(source: Path, tmp_path: Path) -> None:
    result = mpy.compile_with_mpy_cross(source, tmp_path)
    assert result.returncode == 0, f"mpy-cross {_rel(source)}:\n{result.stdout}{result.stderr}"


def test_mpy_cross_check_rejects_code_micropython_cannot_compile(tmp_path: Path) -> None:
    # MicroPython's compiler lacks some CPython syntax; the check must see what it rejects.
    bad = tmp_path / "bad.py"
    bad.write_text("x = (\n")
    result = mpy.compile_with_mpy_cross(bad, tmp_path / "out")
    assert result.returncode != 0
    assert "SyntaxError" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "tree", [t for t in mpy.STUB_CHECKED_PACKAGES if (mpy.REPO_ROOT / t).is_dir()]
)
def test_device_tree_typechecks_against_esp32_stubs(tree: str) -> None:
    files = mpy.device_sources((tree,))
    if not files:
        pytest.skip(f"{tree}/ has no .py files yet")
    result = mpy.typecheck_device_code(files)
    assert result.returncode == 0, (
        f"mypy against micropython-esp32-stubs, {tree}/ (config .ci/mypy-micropython.ini):\n"
        f"{result.stdout}{result.stderr}"
    )


def _typecheck_snippet(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    result = mpy.typecheck_device_code([path], cwd=tmp_path)
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_stubs_check_accepts_esp32_port_apis(tmp_path: Path) -> None:
    output = _typecheck_snippet(
        tmp_path,
        "good",
        """
        import esp32
        import machine
        import network
        import time
        from micropython import const

        LED_PIN = const(2)
        led = machine.Pin(LED_PIN, machine.Pin.OUT)
        led.value(1)
        time.sleep_ms(10)
        wlan = network.WLAN(network.STA_IF)
        nvs = esp32.NVS("trygg")
        """,
    )
    assert output.startswith("exit 0"), output


@pytest.mark.parametrize(
    ("case", "source", "expected"),
    [
        ("cpython_stdlib_module", "import dataclasses\n", "dataclasses"),
        ("site_packages_module", "import cbor2\n", "cbor2"),
        ("missing_port_api", "import machine\nmachine.Pin(2).foo()\n", '"foo"'),
    ],
)
def test_stubs_check_rejects_what_the_esp32_port_lacks(
    tmp_path: Path, case: str, source: str, expected: str
) -> None:
    output = _typecheck_snippet(tmp_path, case, source)
    assert output.startswith("exit 1"), output
    assert expected in output, output


# What the production image must not freeze: the simulated board and the HIL rig's own code.
_NOT_ON_A_DEVICE = ("hw/sim/", "hw/rig/")


def test_freeze_manifest_freezes_every_module_a_device_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Run the manifest as MicroPython's build does (tools/manifestfile.py: the manifest's
    # folder is the current one), with include() and package() recording what they get.
    manifest = mpy.REPO_ROOT / "hw" / "esp32" / "manifest.py"
    included: list[str] = []
    frozen: set[str] = set()

    def package(name: str, files: list[str] | None = None, base_path: str = ".") -> None:
        root = (manifest.parent / base_path / name).resolve()
        paths = [root / f for f in files] if files is not None else root.rglob("*.py")
        for path in paths:
            assert path.is_file(), f"manifest: {path} does not exist"
            frozen.add(path.relative_to(mpy.REPO_ROOT).as_posix())

    monkeypatch.chdir(manifest.parent)
    exec(compile(manifest.read_text(), str(manifest), "exec"),
         {"include": included.append, "package": package})
    assert included == ["$(PORT_DIR)/boards/manifest.py"]
    expected = {_rel(p) for p in DEVICE_FILES if not _rel(p).startswith(_NOT_ON_A_DEVICE)}
    assert frozen == expected


def test_firmware_version_is_the_distributions() -> None:
    """The version a device reports in its hello, and which `trygg provision` compares with a
    production image's, moves with the release (pyproject.toml)."""
    from importlib.metadata import version

    from trygg.firmware import VERSION

    assert version("trygg") == VERSION
