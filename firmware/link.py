"""The link layer seen by the device core: one interface, several transports.

MQTT 3.1.1 over Wi-Fi (firmware/mqtt.py) is the first; ESP-NOW through a USB
radio bridge on the hub will be the second. The device core and the roles only
use this interface, so a new transport touches neither.

    link = SomeLink(hal, cfg, on_frame)   # on_frame(bytes) for each downlink frame
    task = asyncio.create_task(link.run())  # keeps the link up, forever
    link.up                               # True while frames can be sent
    await link.wait_up()
    ok = await link.send(frame)           # True once the transport took the frame
                                          # (MQTT: PUBACK); False: link went down

Delivery to the hub is confirmed by the hub's signed ``ack``, never by the
transport: the outbox keeps a frame until then (firmware/outbox.py).
"""

import asyncio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Link:
    def __init__(self, on_frame: "Any") -> None:
        self.on_frame = on_frame
        self.up = False
        self._up_event = asyncio.Event()
        self.reconnects = 0

    def _set_up(self, up: bool) -> None:
        self.up = up
        if up:
            self.reconnects += 1
            self._up_event.set()
        else:
            self._up_event.clear()

    async def wait_up(self) -> None:
        await self._up_event.wait()

    async def run(self) -> None:
        raise NotImplementedError

    async def send(self, frame: bytes) -> bool:
        raise NotImplementedError
