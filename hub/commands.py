"""Commands to devices: signed, sequenced, retried until the device reports the result.

A command is a row in ``commands`` (so it survives a restart) and goes out as a ``command``
frame with the row id as ``command_id``. Each attempt is a new frame with a new hub sequence
number (a device's replay window would drop a resent copy), same command id; the device answers
with a ``command_result`` carrying that id, which ends the retries. Retries back off from
``retry_initial_s`` doubling to ``retry_max_s``; after ``expire_s`` the command is given up as
"expired". ``set_time`` is filled in at each attempt, so a retried time sync is never stale.

A battery device behind the ESP-NOW bridge listens only for a moment after its own frames,
and one that never asks the bridge for its mail (a battery motion or bed sensor: events and
heartbeats only) gets a command only if a copy waits in the bridge's mailbox when it wakes:
with retries an hour apart, or a neighbour forging its MAC and taking each copy from the
mailbox while it sleeps, that may be never. So at the first verified frame of each of its
wakes (``device_woke``, from hub/bridge.py) its pending commands go out at once, one attempt
each, into the moment it listens. Copies of one command meeting in a wake (a retry kept in the
mailbox and the attempt sent at the wake) are run and answered once: the device runs a command
id once (firmware/device.py, ``_ran_already``); copies after it are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any

from trygg.protocol import messages

from .config import CommandConfig, HubConfig
from .ingest import Ingest, down_topic
from .store import Store, StoredEvent

log = logging.getLogger("trygg.hub.commands")


def utc_offset_min(zone: str, now: float) -> int:
    offset = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def backoff(config: CommandConfig, attempts: int) -> float:
    return float(min(config.retry_max_s, config.retry_initial_s * (2 ** min(attempts, 30))))


class CommandSender:
    def __init__(self, config: HubConfig, run_db: Callable[..., Awaitable[Any]], ingest: Ingest,
                 publish: Callable[[str, bytes], Awaitable[None]],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._run_db = run_db
        self._ingest = ingest
        self._publish = publish
        self._clock = clock
        self._wake = asyncio.Event()
        self._woken: set[str] = set()  # bridged devices awake now: their commands go out

    async def queue(self, device_id: str, command: dict[str, Any]) -> int:
        """Validate and queue a command (``{"command": "identify", "seconds": 5}``)."""
        probe = dict(command, type="command", command_id=0)
        if probe["command"] == "set_time":
            probe.update(time=0, utc_offset_min=0)
        messages.to_wire(probe)  # raises ProtocolError(SCHEMA) naming the bad field
        now = self._clock()
        command_id: int = await self._run_db(lambda s: s.add_command(device_id, command, now))
        self._wake.set()
        return command_id

    def _zone_of(self, device_id: str) -> str:
        link = self._ingest.links.get(device_id)
        if link is not None:
            for r in self.config.residents:
                if r.id == link.resident_id:
                    return r.timezone
        return "UTC"

    def device_woke(self, device_id: str) -> None:
        """A battery device behind the bridge is awake (its first verified frame of a wake):
        each of its pending commands is sent at once, as an attempt of its own."""
        self._woken.add(device_id)
        self._wake.set()

    def _due(self, store: Store, now: float, woken: frozenset[str] = frozenset()
             ) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        cfg = self.config.commands
        for command_id, device_id, body, attempts, created_at in store.due_commands(now,
                                                                                    woken):
            link = self._ingest.links.get(device_id)
            if link is None:
                store.finish_command(command_id, None, "expired", "device not paired", now)
                continue
            if now - created_at > cfg.expire_s:
                store.finish_command(command_id, None, "expired",
                                     f"no result after {attempts} attempts", now)
                log.warning("command %d to %s expired after %d attempts", command_id,
                            device_id, attempts)
                continue
            msg = dict(body, type="command", command_id=command_id)
            if msg["command"] == "prompt":
                # A prompt asks for an answer within its seconds from when it was queued: a
                # retry asks only for what is left, and none after (hub/rules/local_check.py).
                left = math.ceil(created_at + int(msg["seconds"]) - now)
                if left <= 0:
                    store.finish_command(command_id, None, "expired",
                                         "the local check's time to answer has passed", now)
                    continue
                msg["seconds"] = left
            elif msg["command"] == "set_time":
                msg["time"] = int(now)
                msg["utc_offset_min"] = utc_offset_min(self._zone_of(device_id), now)
            try:
                data = self._ingest.seal_down(store, link, msg)
            except Exception as exc:
                store.finish_command(command_id, None, "failed", f"cannot encode: {exc}", now)
                continue
            store.command_sent(command_id, now + backoff(cfg, attempts))
            if device_id in woken:
                log.info("command %d (%s) sent to %s as it woke", command_id, msg["command"],
                         device_id)
            out.append((down_topic(device_id), data))
        return out

    async def run(self) -> None:
        poll = min(1.0, self.config.commands.retry_initial_s)
        while True:
            woken, self._woken = frozenset(self._woken), set()
            frames = await self._run_db(self._due, self._clock(), woken)
            for topic, data in frames:
                try:
                    await self._publish(topic, data)
                except Exception as exc:
                    log.warning("command on %s not sent (will retry): %s", topic, exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    async def on_events(self, events: list[StoredEvent]) -> None:
        """Results end retries; a device's hello gets a time sync."""
        for ev in events:
            if ev.type == "command_result" and ev.device_id is not None:
                body = ev.body
                now = self._clock()
                device_id = ev.device_id
                await self._run_db(lambda s, b=body, d=device_id, t=now: s.finish_command(
                    int(b["command_id"]), d, str(b["status"]), str(b.get("detail", "")), t))
            elif ev.type == "hello" and ev.device_id is not None:
                await self.queue(ev.device_id, {"command": "set_time"})
