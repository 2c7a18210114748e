"""Shared helpers for the ARC forwarder tests (tests/test_arc_*.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from trygg.hub.arc import AlarmReport, ArcConfig, dc09, load_arc_config
from trygg.hub.arc.codes import CODES

RESIDENT = "5678"
HUB = "1234"
# DC-09 keys are binary; one of each AES size.
KEY_128 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
KEY_256 = bytes(range(100, 132))

# Short timings so outage tests finish in seconds; the defaults are documented in config.py.
FAST = {"ack_timeout": 0.5, "connect_timeout": 0.5, "retry_backoff_initial": 0.05,
        "retry_backoff_max": 0.3, "supervision_interval": 30.0}

_ids = itertools.count(1)


def receiver(name: str, port: int, **extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"name": name, "host": "127.0.0.1", "port": port,
                             "receiver_number": "1", **extra}
    if isinstance(table.get("key"), bytes):
        table["key"] = table["key"].hex()
    return table


def arc_table(*receivers: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """An ``[arc]`` table as in hub.toml: the hub's account, ``receivers``, fast timings."""
    return {"account": HUB, "receivers": list(receivers), **FAST, **settings}


def config(*receivers: dict[str, Any], **settings: Any) -> ArcConfig:
    return load_arc_config(arc_table(*receivers, **settings))


def report(kind: str, *, event: str | None = None, priority: int | None = None,
           zone: int = 7, room: str | None = "kitchen", alarm_id: str | None = None,
           raised_at: float | None = None) -> AlarmReport:
    if event is None:
        event = "test" if kind == "test" else "raised"
    return AlarmReport(
        alarm_id=alarm_id or f"alarm-{next(_ids)}", event=event, kind=kind,
        priority=CODES[kind].priority if priority is None else priority, account=RESIDENT,
        zone=zone, room=room, device_id="a1b2c3d4e5f6", description=f"{kind} in the test",
        raised_at=time.time() if raised_at is None else raised_at)


# A behaviour gets (the message frame, the writer) and answers however it likes.
Behaviour = Callable[[dc09.Frame, asyncio.StreamWriter], Awaitable[None]]


def answer(token: str, seq: int, account: str = RESIDENT) -> bytes:
    return dc09.frame(f'"{token}"{seq:04d}R1L0#{account}[]'.encode())


class RawReceiver:
    """A TCP server that parses each DC-09 message and lets ``behaviour`` answer it."""

    def __init__(self, port: int, behaviour: Behaviour, key: bytes | None = None) -> None:
        self.port = port
        self.behaviour = behaviour
        self.key = key
        self.received: list[dc09.Frame] = []
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    async def wait_until(self, predicate: Callable[[list[dc09.Frame]], bool],
                         within: float) -> bool:
        """Wait until ``predicate(received)`` holds; False after ``within`` seconds."""
        try:
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: predicate(self.received))
        except TimeoutError:
            return False
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        frames = dc09.FrameReader()
        try:
            while chunk := await reader.read(4096):
                for raw in frames.feed(chunk):
                    message = dc09.parse_frame(raw, self.key)
                    self.received.append(message)
                    async with self._arrived:
                        self._arrived.notify_all()
                    await self.behaviour(message, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()


async def silence(message: dc09.Frame, writer: asyncio.StreamWriter) -> None:
    return None


# --- a forwarder in a process of its own, to kill -9 ----------------------------------------

FORWARDER_WAIT_S = 20.0

# The forwarder in its own process: submit the reports given (if any), say so, run until killed.
_FORWARDER = r"""
import asyncio, json, sys
from trygg.hub.arc import AlarmReport, ArcForwarder, load_arc_config

async def main():
    cfg = load_arc_config(json.loads(sys.argv[1]))
    reports = [AlarmReport(**r) for r in json.loads(sys.argv[3])]
    async with ArcForwarder(cfg, sys.argv[2]) as fwd:
        for r in reports:
            await fwd.submit(r)
        print("submitted", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def start_forwarder(table: dict[str, object], db: Path,
                          reports: list[dict[str, object]]) -> asyncio.subprocess.Process:
    """An ArcForwarder on ``db`` in a new process, once it has submitted ``reports``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _FORWARDER, json.dumps(table), str(db), json.dumps(reports),
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), FORWARDER_WAIT_S)
    assert line == b"submitted\n"
    return proc


async def kill_9(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL, as a power cut or the OOM killer ends the hub, and wait for the end."""
    if proc.returncode is None:
        # Killed already (and reaped by asyncio's child watcher, its return code not yet
        # set): nothing left to kill.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    await asyncio.wait_for(proc.wait(), FORWARDER_WAIT_S)
