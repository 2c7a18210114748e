"""The rules core is pure: it imports nothing of the hub around it.

``trygg.hub.rules`` decides alarms from stored events and time alone, so that a year of one home
replays in seconds and every alarm can be re-run on another machine (``trygg hub replay``,
``trygg bench care``). That holds only while the core cannot reach the configuration file, the
store, the ARC link, the network or the clock; these tests keep the import graph so.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import trygg.hub.rules

RULES_DIR = Path(trygg.hub.rules.__file__).parent

# Standard-library modules the core may use: data structures, maths and the tz database. No
# time, asyncio, sqlite3, socket, os or logging: those are the shell's.
ALLOWED_STDLIB = {"__future__", "collections", "dataclasses", "datetime", "functools",
                  "itertools", "math", "typing", "zoneinfo", "bisect", "heapq"}


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, relative level) of every import in a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


def test_rules_modules_import_only_each_other_and_pure_stdlib() -> None:
    sources = sorted(RULES_DIR.glob("*.py"))
    assert len(sources) >= 10, "the rules package moved: point RULES_DIR at it"
    bad = []
    for path in sources:
        for line, module, level in _imports(path):
            if level == 1:
                continue  # a sibling inside trygg.hub.rules
            if level > 1:
                bad.append(f"{path.name}:{line}: from {'.' * level}{module} (outside the core)")
            elif module.split(".")[0] not in ALLOWED_STDLIB:
                bad.append(f"{path.name}:{line}: import {module}")
    assert not bad, "the rules core must not reach the hub around it:\n" + "\n".join(bad)


def test_importing_the_rules_loads_no_config_store_arc_or_io_module() -> None:
    # A fresh interpreter: what importing the core pulls in, transitively.
    code = ("import json, sys; import trygg.hub.rules; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    loaded = set(json.loads(out))
    hub_modules = {m for m in loaded if m.startswith("trygg.") and m != "trygg.hub"
                   and not m.startswith("trygg.hub.rules")}
    assert hub_modules == set(), f"trygg.hub.rules pulled in {sorted(hub_modules)}"
    shell = {"trygg.hub.config", "trygg.hub.arc", "trygg.hub.store", "sqlite3", "asyncio",
             "socket"} & loaded
    assert shell == set(), f"trygg.hub.rules pulled in {sorted(shell)}"
