"""The serial transport of the link interface (firmware/link.py), for the ESP-NOW bridge.

The bridge (firmware/roles/bridge.py) sits on the hub's USB port; its console UART is the
link, framed, checked and flow-controlled as protocol/bridge.py describes. Its own frames
(hello, heartbeats: the hub supervises the bridge like any device) go up as ``U`` lines
under its own address; ``D`` lines for its own address are its acks and commands, those
for other addresses go to the bridge role's mailbox (``relay_down``). A damaged line is
counted in ``corrupt`` and dropped: the end-to-end ack makes the sender try again.

The link is always "up": a UART cannot tell whether a cable is plugged in, and a frame
written to a pulled cable is lost the way a frame lost on the air is (never acked, so
sent again from the outbox).
"""

import asyncio
import binascii
import sys

from micropython import const

from protocol import bridge
from protocol.errors import ProtocolError

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any


class SerialLink:
    def __init__(self, hal: "Any", cfg: "dict[str, Any]", on_frame: "Any") -> None:
        self.on_frame = on_frame
        self.up = True
        self.reconnects = 0
        self.mac = bridge.mac_for(binascii.unhexlify(cfg["device_id"]))
        self.corrupt = 0  # marked lines that failed their check
        self.relay_down: Any = None  # (mac, frame) -> None, set by the bridge role
        self.credit: Any = None  # () -> int: room for downlinks, set by the bridge role
        self._out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout

    def write(self, kind: str, address: "Any", data: "Any" = b"") -> None:
        self._out.write(bridge.encode(kind, address, bytes(data)))

    async def wait_up(self) -> None:
        pass

    async def send(self, frame: "Any") -> bool:
        self.write(bridge.UPLINK, self.mac, frame)
        return True

    def send_credit(self) -> None:
        self.write(bridge.CREDIT, self.credit() if self.credit is not None else 0)

    async def run(self) -> None:
        reader = asyncio.StreamReader(sys.stdin)
        self.send_credit()  # a (re)started bridge tells the hub its room at once
        while True:
            line = await reader.readline()
            if not line:
                await asyncio.sleep_ms(100)  # no console: nothing to read, ever
                continue
            try:
                got = bridge.decode(line)
            except ProtocolError:
                self.corrupt += 1
                continue
            if got is None:
                continue  # the console's own traffic: a REPL keystroke, an echo
            kind, address, data = got
            if kind == bridge.DOWNLINK:
                if address == self.mac:
                    self.on_frame(data)
                elif self.relay_down is not None:
                    self.relay_down(address, data)
                self.send_credit()
            elif kind == bridge.SYNC:
                self.send_credit()

