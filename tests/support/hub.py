"""Shared helpers for the hub tests (tests/test_hub_*.py): configurations, paired devices, a
hub in this event loop or as its own process (`trygg hub run`, for kill -9), and reads of its
database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from trygg.hub import config as hub_config
from trygg.hub.service import HubService
from trygg.hub.store import Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto
from trygg.tools.sim.processes import end_process

DEV_A = "a1b2c3d4e5f6"
DEV_B = "0a0b0c0d0e0f"
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
SMOKE = "5a0000000001"
KEY_SMOKE = bytes(range(7, 39))
WAIT_S = 15.0

TRYGG = [sys.executable, "-m", "trygg.tools.cli.main"]
HEARTBEAT = {"type": "heartbeat", "battery_mv": 3900, "rssi": -60, "free_heap": 50000,
             "outbox": 0, "rejected": 0}

T = TypeVar("T")


def make_config(tmp_path: Path, broker: Mosquitto, **overrides: Any) -> hub_config.HubConfig:
    """A validated configuration for a hub on ``broker``; a table given in ``overrides`` is
    merged into the default one, anything else (``residents=[...]``) replaces it."""
    data: dict[str, Any] = {
        "hub": {"id": "hub-test", "database": str(tmp_path / "hub.db"), "tick_s": 1},
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_s": 0.2},
        "discovery": {"enabled": False},
        "commands": {"retry_initial_s": 0.3, "retry_max_s": 1.0},
        "residents": [{"id": "r1", "arc_account": "1234", "timezone": "Europe/Oslo"}],
    }
    for section, values in overrides.items():
        if isinstance(values, Mapping) and isinstance(data.get(section), dict):
            data[section].update(values)
        else:
            data[section] = values
    return hub_config.parse(data, "test.toml")


def pair(cfg: hub_config.HubConfig, *devices: tuple[str, bytes, str, str]) -> None:
    store = Store(cfg.database)
    try:
        for device_id, key, role, room in devices:
            store.add_device(device_id, key, role, room, "r1")
    finally:
        store.close()


@contextlib.asynccontextmanager
async def running_hub(cfg: hub_config.HubConfig, **kwargs: Any) -> AsyncIterator[HubService]:
    """A ``HubService`` in this event loop, connected to the broker; ``kwargs`` go to it."""
    service = HubService(cfg, **kwargs)
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready))
    try:
        async with asyncio.timeout(WAIT_S):
            await ready.wait()
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _read(cfg: hub_config.HubConfig | Path, fn: Callable[[Store], T]) -> T:
    with Store(cfg if isinstance(cfg, Path) else cfg.database) as store:
        return fn(store)


def stored(cfg: hub_config.HubConfig, device_id: str) -> list[int]:
    return _read(cfg, lambda s: sorted(e.seq for e in s.events(device_id=device_id)
                                       if e.seq is not None))


def rejections(cfg: hub_config.HubConfig) -> dict[tuple[str, str], int]:
    return _read(cfg, lambda s: {(r["device_id"], r["reason"]): r["count"]
                                 for r in s.rejections()})


def alarms(cfg: hub_config.HubConfig | Path) -> list[dict[str, Any]]:
    """The alarms table (newest first), read with a connection of our own (WAL: safe while
    a hub, here or in another process, writes)."""
    return _read(cfg, lambda s: s.alarms())


async def eventually(check: Callable[[], T], within: float, what: str,
                     interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after
    ``within`` seconds. Only for state another component writes with no event to await (a
    database another process or thread commits to)."""
    try:
        async with asyncio.timeout(within):
            # No event to await: another process (or the database thread) commits the state.
            while not (result := check()):  # noqa: ASYNC110
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None
    return result


# -- the hub as its own process --------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A flat TOML value: strings (JSON escapes are TOML basic-string escapes), numbers, bools."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def toml_table(header: str, table: Mapping[str, Any]) -> str:
    """``[header]`` with its scalar keys, then ``[[header.key]]`` for each list of tables."""
    lines = [f"[{header}]"]
    arrays: list[str] = []
    for key, value in table.items():
        if isinstance(value, list):
            for item in value:
                arrays.append(f"[[{header}.{key}]]")
                arrays += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines + arrays) + "\n"


def write_hub_toml(tmp_path: Path, broker: Mosquitto | None, *, account: str = "1234",
                   arc: Mapping[str, Any] | None = None) -> Path:
    """hub.toml for `trygg hub run` on ``broker`` (None: a hub never run, for commands that
    do not reach a broker): one resident with ARC ``account``, devices may send as fast as a
    burst test needs, rule ticks every second, and ``arc`` as its [arc] section."""
    path = tmp_path / "hub.toml"
    path.write_text(f"""
[hub]
id = "hub-proc"
database = "hub.db"
tick_s = 1
[mqtt]
port = {broker.port if broker else 1883}
reconnect_s = 0.2
[discovery]
enabled = false
[ingest]
device_rate_per_s = 10000
device_burst = 10000
[[residents]]
id = "r1"
arc_account = "{account}"
""" + (toml_table("arc", arc) if arc else ""))
    return path


def start_hub(config: Path, crash_at: str = "") -> subprocess.Popen[bytes]:
    """`trygg hub run` on ``config``; its log goes to hub.log beside it (a file, not a pipe
    nobody reads: a hub logging a long outage must never block on a full pipe).
    ``crash_at``: hub/crash_points.py names at which the hub kills itself (SIGKILL)."""
    env = {**os.environ, "TRYGG_CRASH_AT": crash_at}
    with open(config.with_name("hub.log"), "ab") as log:
        return subprocess.Popen([*TRYGG, "hub", "run", "--config", str(config), "--log-level",
                                 "warning"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, env=env)


def hub_log(config: Path) -> str:
    path = config.with_name("hub.log")
    return path.read_text(errors="replace") if path.exists() else ""


def stop_hub(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; a hub already dead is only reaped."""
    end_process(proc, grace_s=10)


async def wait_until_acking(device: SimulatedDevice, proc: subprocess.Popen[bytes],
                            config: Path, probe: dict[str, Any] | None = None) -> None:
    """The hub process is up once it acks a probe frame from ``device`` (sent again every
    half second: the hub may not have subscribed when the first one went out)."""
    seq = await device.send(probe or {"type": "event", "event": "motion"})
    async with asyncio.timeout(WAIT_S * 2):
        while seq not in device.acked:
            if proc.poll() is not None:
                raise AssertionError(f"the hub exited ({proc.returncode}): {hub_log(config)}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await device.wait_acked({seq})
            if seq not in device.acked:
                await device.resend_unacked()
