"""protocol/trygg.cddl read by two independent CDDL tools, behind one question: does CBOR ``data``
match rule ``rule``?

* pycddl (cddl-rs, Rust), the validator the schema was first written against;
* zcbor (Nordic Semiconductor, Python), the tool a C firmware would generate its decoder from.

Each has bugs of its own (tests/protocol/test_schema.py lists them and marks them as strict
xfails), which is why every rule is checked with both.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pycddl
from zcbor.zcbor import zcbor

from trygg.tools.device.tree import package_source

CDDL_PATH = package_source("protocol") / "trygg.cddl"
CDDL_TEXT = CDDL_PATH.read_text(encoding="utf-8")
# zcbor reads the standard prelude (RFC 8610 Appendix D) from its own file; pycddl has it built in.
ZCBOR_PRELUDE = Path(zcbor.__file__).with_name("prelude.cddl")


class Pycddl:
    name = "pycddl"

    def __init__(self, text: str = CDDL_TEXT) -> None:
        self._text = text
        self._schemas: dict[str, pycddl.Schema] = {}

    def accepts(self, rule: str, data: bytes) -> bool:
        if rule not in self._schemas:
            self._schemas[rule] = pycddl.Schema("root = " + rule + "\n" + self._text)
        try:
            self._schemas[rule].validate_cbor(data)
        except pycddl.ValidationError:
            return False
        return True


class Zcbor:
    name = "zcbor"

    def __init__(self, text: str = CDDL_TEXT) -> None:
        self._text = text + "\n" + ZCBOR_PRELUDE.read_text(encoding="utf-8")
        self._types = self._parse(self._text)
        self._roots: dict[str, Any] = {}

    @staticmethod
    def _parse(text: str) -> Any:
        # 64: the maximum repetition for `*` without a bound; trygg.cddl bounds every one.
        types = zcbor.DataTranslator.from_cddl(text, 64).my_types
        return types, list(_all_nodes(types.values()))

    def accepts(self, rule: str, data: bytes) -> bool:
        """``rule`` is a rule's name or, as for pycddl, any CDDL type."""
        types, nodes = self._types
        if rule not in types:
            if rule not in self._roots:
                self._roots[rule] = self._parse("test-root = " + rule + "\n" + self._text)
            (types, nodes), rule = self._roots[rule], "test-root"
        try:
            # zcbor prints the failed choices it collected to stdout, and keeps collecting them
            # on the schema for as long as it lives: silence and clear them per call.
            with contextlib.redirect_stdout(io.StringIO()):
                types[rule].validate_str(data)
        except zcbor.CddlValidationError:
            return False
        finally:
            for node in nodes:
                node.errors.clear()
        return True


def _all_nodes(roots: Any) -> Any:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack += [node.key, node.cbor]
        if isinstance(node.value, list):
            stack += node.value


TOOLS = (Pycddl(), Zcbor())
