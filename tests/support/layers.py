"""The layers of the source, drawn from its imports.

``python tests/support/layers.py`` prints the picture as a Mermaid graph (the README's "Layers"
section is this output); tests/tools/test_layers.py holds the rules that make it a picture of
layers rather than of a tangle. A part is a folder a reader can name (``hub.rules``,
``tools.sim``); an edge means some module of one part imports some module of the other.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOP = ("protocol", "firmware", "hw", "hub", "tools")

# The parts, most specific first: a module belongs to the first part its path starts with.
PARTS = (
    "hub.rules", "hub.arc", "hub.replay", "hub",
    "tools.cli", "tools.bench", "tools.sim", "tools.device", "tools.protocol", "tools",
    "hw.sim", "hw.rig", "hw.esp32", "hw.boards", "hw",
    "firmware.roles", "firmware",
    "protocol",
)


def part_of(module: str) -> str | None:
    for part in PARTS:
        if module == part or module.startswith(part + "."):
            return part
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path, module: str) -> Iterable[str]:
    """Every module (as a dotted name without the ``trygg.`` prefix) that ``path`` imports,
    at any depth (imports inside functions count: they are dependencies too)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            name = name.removeprefix("trygg.")
            if name.split(".")[0] in TOP:
                yield name


def edges() -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) -> the importing modules, for every edge between parts."""
    found: dict[tuple[str, str], list[str]] = {}
    for top in TOP:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            module = _module_name(path)
            source = part_of(module)
            if source is None:
                continue
            for imported in _imports(path, module):
                target = part_of(imported)
                if target is not None and target != source:
                    found.setdefault((source, target), [])
                    if module not in found[(source, target)]:
                        found[(source, target)].append(module)
    return found


def mermaid() -> str:
    lines = ["```mermaid", "graph TD"]
    for source, target in sorted(edges()):
        a, b = source.replace(".", "_"), target.replace(".", "_")
        lines.append(f"  {a}[{source}] --> {b}[{target}]")
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(mermaid() + "\n")
