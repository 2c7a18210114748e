"""Files only the hub's own user may read: the event store and the ARC outbox hold health data
(special-category data under GDPR art. 9), and SQLite gives its -wal and -shm files the
database file's mode."""

from __future__ import annotations

import os
from pathlib import Path


def create_owner_only(path: Path) -> None:
    """Make ``path`` (and its folder) exist with mode 0600 before SQLite opens it.

    An existing file is only chmod-ed, never opened here: closing any descriptor of a database
    file drops every POSIX lock this process holds on it, including those of SQLite
    connections already open (sqlite.org "How To Corrupt An SQLite Database File" §2.2).
    Another process closing its connection could then take the file for its last user and
    checkpoint and delete the WAL under them: a "disk I/O error" at best."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    os.chmod(path, 0o600)


def write_secret(path: Path, secret: str) -> None:
    """Replace the secret in ``path`` atomically (a crash leaves the old or the new one, never
    half of either), mode 0600 from the first byte: write a temporary file, fsync, rename,
    fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secret.encode("utf-8") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_secret(path: Path) -> str:
    """The secret in ``path`` (surrounding white space removed). Raises OSError, and
    PermissionError when others than the owner may read the file."""
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise PermissionError(f"{path}: readable by others (mode {mode & 0o777:03o}); "
                              f"chmod 600 {path}")
    return path.read_text(encoding="utf-8").strip()
