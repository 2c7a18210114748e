"""The install maps the top-level folders under the `trygg` namespace and adds no generic
top-level module (`protocol`, `tools`, `hw`, ...) to site-packages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import mpy

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
