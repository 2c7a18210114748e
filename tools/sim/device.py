"""A device stand-in on CPython for tests, benchmarks and the demo: the protocol code seals its
frames exactly as the firmware does, and an aiomqtt client carries them. It keeps an outbox of
unacked frames and verifies every ack and command from the hub (direction, MAC, replay)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType
from typing import Any

import aiomqtt

from trygg.protocol import cose, frame
from trygg.protocol.errors import ProtocolError
from trygg.protocol.replay import ReplayWindow


class SimulatedDevice:
    def __init__(self, device_id: str, key: bytes, host: str, port: int, *,
                 username: str | None = None, password: str | None = None,
                 answer_commands: bool = True, first_seq: int = 0,
                 client_id: str | None = None) -> None:
        self.device_id = device_id
        self.kid = bytes.fromhex(device_id)
        self.key = cose.MacKey(key)
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        # On a broker with Trygg's ACLs a device may use only trygg-<id> (the firmware's).
        self.client_id = client_id or f"sim-{device_id}"
        self.answer_commands = answer_commands
        self.seq = first_seq
        self.outbox: dict[int, bytes] = {}
        self.sent_at: dict[int, float] = {}
        self.acked: set[int] = set()
        self.ack_latency: list[float] = []
        self.commands: list[dict[str, Any]] = []
        self.rejected_down: list[str] = []
        self.window = ReplayWindow()
        self._changed = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._listener: asyncio.Task[None] | None = None
        self.uptime0 = time.monotonic()

    @property
    def up_topic(self) -> str:
        return f"trygg/{self.device_id}/up"

    async def __aenter__(self) -> SimulatedDevice:
        self._stack = contextlib.AsyncExitStack()
        self._client = await self._stack.enter_async_context(aiomqtt.Client(
            self.host, self.port, username=self.username or self.device_id,
            password=self.password, identifier=self.client_id))
        await self._client.subscribe(f"trygg/{self.device_id}/down", qos=1)
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._listener
        if self._stack is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._stack.aclose()

    def uptime(self) -> int:
        return int(time.monotonic() - self.uptime0)

    def seal(self, msg: dict[str, Any], seq: int | None = None) -> tuple[int, bytes]:
        if seq is None:
            seq = self.seq
            self.seq += 1
        msg = dict(msg)
        msg.setdefault("uptime", self.uptime())
        return seq, frame.seal(msg, self.key, self.kid, seq)

    async def publish_raw(self, data: bytes, topic: str | None = None) -> None:
        assert self._client is not None
        await self._client.publish(topic or self.up_topic, data, qos=1)

    async def send(self, msg: dict[str, Any]) -> int:
        seq, data = self.seal(msg)
        self.outbox[seq] = data
        self.sent_at[seq] = time.perf_counter()
        await self.publish_raw(data)
        return seq

    async def event(self, name: str, value: int | None = None) -> int:
        msg: dict[str, Any] = {"type": "event", "event": name}
        if value is not None:
            msg["value"] = value
        return await self.send(msg)

    async def resend_unacked(self) -> int:
        pending = sorted(s for s in self.outbox if s not in self.acked)
        for s in pending:
            await self.publish_raw(self.outbox[s])
        return len(pending)

    async def wait_acked(self, seqs: set[int] | None = None) -> None:
        """Until ``seqs`` (default: everything sent) are acked; wrap in asyncio.timeout."""
        want = set(self.outbox) if seqs is None else seqs
        while not want <= self.acked:
            self._changed.clear()
            await self._changed.wait()

    async def wait_commands(self, n: int) -> list[dict[str, Any]]:
        """Until ``n`` commands arrived; wrap in asyncio.timeout."""
        while len(self.commands) < n:
            self._changed.clear()
            await self._changed.wait()
        return self.commands

    async def _listen(self) -> None:
        assert self._client is not None
        async for message in self._client.messages:
            payload: Any = message.payload
            if not isinstance(payload, bytes):
                continue
            now = time.perf_counter()
            try:
                envelope, msg = frame.open_message(
                    payload, cose.DOWN, lambda kid: self.key if kid == self.kid else None,
                    lambda _kid: self.window)
            except ProtocolError as exc:
                self.rejected_down.append(exc.reason)
                self._changed.set()
                continue
            self.window.accept(envelope.seq)
            if msg["type"] == "ack":
                for first, last in msg["ranges"]:
                    for s in range(first, last + 1):
                        if s in self.outbox and s not in self.acked:
                            self.acked.add(s)
                            sent = self.sent_at.get(s)
                            if sent is not None:
                                self.ack_latency.append(now - sent)
            elif msg["type"] == "command":
                self.commands.append(msg)
                if self.answer_commands:
                    await self.send({"type": "command_result", "command_id": msg["command_id"],
                                     "status": "ok"})
            self._changed.set()
