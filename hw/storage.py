"""Persistent storage as small named records in a flash folder.

The ESP32 (LittleFS, which is copy-on-write and power-loss safe per file
operation) and the simulated board (a host folder that survives restarts)
use the same code. ``write`` goes to a temporary name and is renamed over the
record, so power loss leaves either the old or the new record, never a torn
one: rename is atomic on LittleFS and on POSIX.
"""

import json
import os

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

_TMP = const(".tmp")


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Storage:
    """Records ``name -> bytes`` in ``folder`` (created when missing)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder.rstrip("/")
        if not _exists(self.folder):
            os.mkdir(self.folder)

    def _path(self, name: str) -> str:
        return self.folder + "/" + name

    def read(self, name: str) -> "bytes | None":
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def read_into(self, name: str, buf: "Any") -> int:
        """Read a record into ``buf`` (no allocation); its length, or -1 if it is missing or
        does not fit."""
        try:
            with open(self._path(name), "rb") as f:
                n = f.readinto(buf)
                return n if n < len(buf) else -1
        except OSError:
            return -1

    def read_json(self, name: str) -> "Any":
        """A record written by :meth:`write_json`; None if it is missing or damaged."""
        try:
            with open(self._path(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def write(self, name: str, data: "Any", as_json: bool = False) -> None:
        """Replace a record; ``as_json``: ``data`` is an object, written as JSON straight to
        flash (no string of it in RAM, where the heap may be too fragmented for one)."""
        path = self._path(name)
        with open(path + _TMP, "wb") as f:
            if as_json:
                json.dump(data, f)
            else:
                f.write(data)
        os.rename(path + _TMP, path)

    def delete(self, name: str) -> None:
        try:
            os.remove(self._path(name))
        except OSError:
            pass

    def names(self, prefix: str) -> "list[str]":
        """Names of the records starting with ``prefix`` (unsorted)."""
        out = []
        for entry in os.ilistdir(self.folder):
            name = entry[0]
            if name.startswith(prefix) and not name.endswith(_TMP):
                out.append(name)
        return out


class SequenceSlots:
    """The reserved records protocol.sequence.SequenceCounter persists its bound in."""

    def __init__(self, storage: Storage, prefix: str = "seq") -> None:
        self._storage = storage
        self._prefix = prefix

    def read(self, slot: int) -> "bytes | None":
        return self._storage.read(self._prefix + str(slot))

    def write(self, slot: int, record: bytes) -> None:
        self._storage.write(self._prefix + str(slot), record)
