"""One `trygg hub run` per database: two would kick each other off the broker (one client id)
and share one ARC outbox. The running hub holds an exclusive lock on ``<database>.lock`` (with
its process id in it) for as long as it runs; the tools ask whether it is held."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class HubAlreadyRunning(RuntimeError):
    """Another hub holds the database's lock; the message says which and what to do."""


def lock_path(database: str | Path) -> Path:
    return Path(f"{database}.lock")


@contextlib.contextmanager
def hold(database: str | Path) -> Iterator[None]:
    """Hold the lock while the hub runs; HubAlreadyRunning when another hub has it."""
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise HubAlreadyRunning(
                f"another `trygg hub run` (pid {pid}) is using {database}: two hubs would "
                "take each other's broker session and share one alarm outbox. Stop it first "
                "(sudo systemctl stop trygg-hub), or give this one its own [hub] database"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def running_pid(database: str | Path) -> int | None:
    """The process id of the hub running on ``database``, or None when none runs (-1: one
    runs, its id unreadable)."""
    try:
        fd = os.open(lock_path(database), os.O_RDONLY)
    except OSError:
        return None  # never started here, or not ours to read
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
