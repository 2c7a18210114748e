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

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Protocol

    class Link(Protocol):
        """The interface; for the type checkers only: on the device a base class would cost
        heap for nothing, so transports implement it without inheriting (as hw.hal.Hal)."""

        up: bool  # frames can be sent
        reconnects: int  # times the link came up; the device resends everything after one

        async def wait_up(self) -> None: ...

        async def run(self) -> None: ...

        async def send(self, frame: bytes) -> bool: ...
