"""Persistent storage as small named records in a flash folder.

The ESP32 (LittleFS, which is copy-on-write and power-loss safe per file
operation) and the simulated board (a host folder that survives restarts)
use the same code. ``write`` goes to a temporary name and is renamed over the
record, so power loss leaves either the old or the new record, never a torn
one: rename is atomic on LittleFS and on POSIX.
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TMP = ".tmp"


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

    def write(self, name: str, data: "Any") -> None:
        path = self._path(name)
        with open(path + _TMP, "wb") as f:
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
