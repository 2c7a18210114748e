"""ESP-NOW on the simulated board: datagrams to the simulated medium (tools/sim/espnow_medium.py).

The unix port has no radio. This class offers what hw/esp32/radio.py offers over the
ESP32's ``aioespnow`` (the interface is described there), on a UDP socket connected to the
medium on 127.0.0.1, whose port the simulated board finds in ``<root>sim_radio``.
"""

import asyncio
import socket
from asyncio import core  # type: ignore[attr-defined]

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# The ESP32's ESP-NOW waits this long for the receiver's link-layer ack (with its retries)
# before send() reports failure; the medium answers at once, or after its set delay.
_OUTCOME_MS = const(200)
_RX_FRAMES = const(8)  # frames kept until read; beyond, dropped and counted (as rxbuf does)


class SimRadio:
    def __init__(self, mac: bytes, port: int) -> None:
        self.mac = mac
        self.dropped = 0
        self._rx: list[Any] = []
        self._got = asyncio.Event()
        self._outcome = asyncio.Event()
        self._ok = False
        s = self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
        s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        s.setblocking(False)
        s.send(b"R" + mac)
        self._reader = asyncio.create_task(self._read())

    def _datagram(self) -> "Any":
        # A generator the event loop resumes when the socket is readable: how asyncio's own
        # streams wait (asyncio/stream.py); a datagram socket read as a stream would join
        # datagrams.
        yield core._io_queue.queue_read(self._sock)
        return self._sock.recv(300)

    async def _read(self) -> None:
        while True:
            try:
                data = await self._datagram()
            except OSError:
                continue
            kind = data[:1]
            if kind == b"A":
                self._ok = data[1:2] == b"1"
                self._outcome.set()
            elif kind == b"F" and len(data) > 7:
                if len(self._rx) >= _RX_FRAMES:
                    self.dropped += 1
                    continue
                self._rx.append((data[1:7], data[7:]))
                self._got.set()

    async def send(self, peer: bytes, msg: "Any") -> bool:
        """True when the peer's radio acknowledged the frame (link layer only)."""
        self._outcome.clear()
        self._sock.send(b"F" + self.mac + peer + bytes(msg))
        try:
            await asyncio.wait_for_ms(self._outcome.wait(), _OUTCOME_MS)
        except asyncio.TimeoutError:
            return False
        return self._ok

    async def recv(self, timeout_ms: int) -> "Any":
        """``(mac, msg)`` of the next frame heard, or None after ``timeout_ms``."""
        if not self._rx:
            self._got.clear()
            try:
                await asyncio.wait_for_ms(self._got.wait(), timeout_ms)
            except asyncio.TimeoutError:
                return None
        return self._rx.pop(0) if self._rx else None

    def close(self) -> None:
        """The radio powers down (deep sleep): off the air, so the bridge's sends to it fail
        and it keeps them for the next wake, as with a real sleeping chip."""
        self._reader.cancel()
        try:
            self._sock.send(b"U" + self.mac)
        except OSError:
            pass
        self._sock.close()
