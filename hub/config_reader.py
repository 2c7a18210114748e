"""The one reader of the hub's TOML: typed access to a table that names file and key in every
error.

Every section of ``hub.toml`` is read through :class:`TableReader`, the ``[arc]`` section and
each centre protocol's receiver keys included, so that all of them validate the same way and
say the same things::

    hub.toml: residents[0].timezone: unknown time zone 'Europe/Oslp' (use an IANA name such as
    Europe/Oslo)
    hub.toml: [arc].receivers[1].key: 20 bytes; an AES key is 16, 24 or 32 bytes

This module imports nothing from the hub: the configuration, the rules' settings and the centre
protocols all stand on it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from collections.abc import Iterator
from typing import Any

_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the file and key."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def kind_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table", dt.time: "a time"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


class TableReader:
    """Typed access to one TOML table.

    ``source`` is the file (or "command line"; empty: no prefix), ``where`` the dotted path of
    the table ("" for the root, "residents[0]", "[arc].receivers[1]"). ``error_type`` lets a
    part keep its own exception class (a subclass of ConfigError). Every ``get`` marks the key
    as known; ``finish`` refuses the keys nobody asked for, naming the known ones.
    """

    def __init__(self, source: str, where: str, table: Any, *,
                 error_type: type[ConfigError] = ConfigError) -> None:
        self.source = source
        self.where = where
        self.error_type = error_type
        if not isinstance(table, dict):
            raise self.error("", "must be a table")
        self.table: dict[str, Any] = table
        self.used: set[str] = set()

    def path(self, key: str) -> str:
        if not key:
            return self.where
        if not self.where:
            return key
        return f"{self.where}{key}" if key.startswith("[") else f"{self.where}.{key}"

    def error(self, key: str, why: str) -> ConfigError:
        path = self.path(key)
        prefix = f"{self.source}: " if self.source else ""
        return self.error_type(f"{prefix}{path}: {why}" if path else f"{prefix}{why}")

    def has(self, key: str) -> bool:
        return self.table.get(key) is not None

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        # None is "not given" (TOML has no null; a table built in Python may say so).
        if self.table.get(key) is None:
            if default is REQUIRED:
                raise self.error(key, "missing (required)")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool:
            raise self.error(key, f"must be {kind_name(kind)}, not a boolean")
        if not isinstance(value, kind):
            raise self.error(key, f"must be {kind_name(kind)}, got {value!r}")
        return value

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value: float = self.get(key, float, default)
        if not math.isfinite(value) or not lo <= value <= hi:
            raise self.error(key, f"{value} out of range {lo:g}..{hi:g}")
        return value

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value: int = self.get(key, int, default)
        if not lo <= value <= hi:
            raise self.error(key, f"{value} out of range {lo}..{hi}")
        return value

    def text(self, key: str, default: Any = REQUIRED, *, max_len: int = 1000,
             printable: bool = True) -> str:
        value: str = self.get(key, str, default)
        if self.has(key):
            if len(value) > max_len:
                raise self.error(key, f"{len(value)} characters, at most {max_len}")
            if printable and not value.isprintable():
                raise self.error(key, "contains a control character")
        return value

    def optional_text(self, key: str, *, max_len: int = 1000) -> str | None:
        if not self.has(key):
            self.used.add(key)
            return None
        return self.text(key, max_len=max_len)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"{value!r} (one of {', '.join(choices)})")
        return value

    def hex_text(self, key: str, default: str | None, lo: int, hi: int, *,
                 why: str = "") -> str | None:
        """Hex digits, ``lo``..``hi`` of them, returned upper case (``default`` if absent)."""
        value = self.get(key, str, default)
        if value is None:
            return None
        if not lo <= len(value) <= hi or any(ch not in string.hexdigits for ch in value):
            raise self.error(key, f"{value!r} is not {lo}-{hi} hex digits{why}")
        return str(value).upper()

    def clock(self, key: str, default: dt.time) -> dt.time:
        value = self.get(key, (str, dt.time), default)
        if isinstance(value, dt.time):
            return value.replace(second=0, microsecond=0)
        m = _TIME_RE.match(value)
        if not m:
            raise self.error(key, f"{value!r} is not a local time HH:MM (e.g. \"07:30\")")
        return dt.time(int(m.group(1)), int(m.group(2)))

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a list of non-empty strings")
        return tuple(value)

    def sub(self, key: str) -> TableReader:
        """The table under ``key`` (an empty one when absent)."""
        self.used.add(key)
        return TableReader(self.source, self.path(key), self.table.get(key, {}),
                           error_type=self.error_type)

    def tables(self, key: str, *, at_least: int = 0, at_most: int = 1000,
               what: str = "") -> Iterator[TableReader]:
        """The array of tables under ``key`` (``[[key]]``), each as its own reader."""
        value = self.get(key, list, [])
        if len(value) < at_least:
            raise self.error(key, f"at least {at_least} {what or 'table'} needed")
        if len(value) > at_most:
            raise self.error(key, f"{len(value)} tables, at most {at_most}")
        for i, table in enumerate(value):
            if not isinstance(table, dict):
                raise self.error(f"{key}[{i}]", f"expected a table ([[{key}]])")
            yield TableReader(self.source, self.path(f"{key}[{i}]"), table,
                              error_type=self.error_type)

    def finish(self) -> None:
        unknown = sorted(k for k, v in self.table.items() if k not in self.used and v is not None)
        if unknown:
            raise self.error(unknown[0], f"unknown key {unknown[0]!r} (known: "
                             + ", ".join(sorted(self.used)) + ")")
