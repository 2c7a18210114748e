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
