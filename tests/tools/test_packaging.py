"""The install maps the top-level folders under the `trygg` namespace and adds no generic
top-level module (`protocol`, `tools`, `hw`, ...) to site-packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from support import mpy

PYPROJECT = tomllib.loads((mpy.REPO_ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]


def test_every_python_package_folder_is_listed_in_pyproject() -> None:
    # setuptools cannot discover packages under a renamed prefix, so a new subpackage (say
    # hw/sim/) that is not listed would import in the editable install but be missing from a
    # wheel. This fails first.
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    expected = set()
    for package, folder in PACKAGE_DIRS.items():
        root = mpy.REPO_ROOT / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            if "__pycache__" not in rel.parts:
                expected.add(".".join([package, *rel.parts]))
    missing = sorted(expected - listed)
    assert not missing, f"pyproject.toml [tool.setuptools] packages is missing: {missing}"


def test_installed_package_is_namespaced_under_trygg(tmp_path: Path) -> None:
    # -I: ignore the working directory and PYTHON* variables, i.e. only site-packages count.
    probe = (
        "import importlib.util as u\n"
        "print(u.find_spec('trygg.hub') is not None, u.find_spec('trygg.tools') is not None)\n"
        "print([n for n in ('protocol', 'hub', 'tools', 'hw', 'firmware') if u.find_spec(n)])\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found_namespaced, leaked = result.stdout.splitlines()
    assert found_namespaced == "True True", (
        "trygg is not installed in this environment; run tools/dev test "
        "(it runs pip install -e '.[dev]')"
    )
    assert leaked == "[]", f"generic top-level modules importable from site-packages: {leaked}"


def _source_tree(dest: Path) -> Path:
    """What a clone has for the build (git's files and new ones it does not ignore): the
    pyproject, README and package folders, copied to ``dest``. A build in the working tree
    would leave build/ and *.egg-info behind."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=mpy.REPO_ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    roots = {"pyproject.toml", "README.md", *(f.split("/")[0] for f in PACKAGE_DIRS.values())}
    for name in listed:
        source = mpy.REPO_ROOT / name
        if name and name.split("/")[0] in roots and source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return dest


def test_wheel_carries_the_hub_configuration_files(tmp_path: Path) -> None:
    # The broker configuration and the systemd unit are installed on the Pi from the package;
    # setuptools leaves out any data file whose pattern is not in package-data.
    src = _source_tree(tmp_path / "src")
    out = tmp_path / "dist"
    build = ("import sys\nfrom setuptools import build_meta\n"
             "print(build_meta.build_wheel(sys.argv[1]))\n")
    result = subprocess.run([sys.executable, "-c", build, str(out)], cwd=src,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    wheel = out / result.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for data_file in ("trygg/hub/mosquitto-trygg.conf", "trygg/hub/trygg-hub.service",
                      "trygg/hub/hub.example.toml", "trygg/protocol/trygg.cddl"):
        assert data_file in names, f"{data_file} missing from {wheel.name}"
    # hub/ holds the service and the files it is installed with: all of them travel.
    missing = sorted(rel for path in (src / "hub").rglob("*") if path.is_file()
                     and f"trygg/{(rel := path.relative_to(src).as_posix())}" not in names)
    assert not missing, f"hub files missing from {wheel.name}: {missing}"
