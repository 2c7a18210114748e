"""ESP-NOW bridge role: an ESP32 on the hub's USB port (firmware/serial_link.py).

It relays: every frame heard on ESP-NOW goes to the hub as a ``U`` line with the
sender's MAC (protocol/bridge.py); every frame the hub sends for a battery device (its
acks, its commands) waits in a mailbox and is sent when that device can hear it: at once
(a device that just sent is listening for its ack) and again whenever the device is next
heard, until its radio acknowledges it or ``mailbox_ttl_s`` passes (an ack that expires
costs a resend, which the hub acks again). The mailbox's free room is the hub's credit.

The bridge holds no keys: it cannot read, forge or filter frames, only pass them on; the
hub verifies each one (ARCHITECTURE invariant 3). A 1-byte datagram is a device asking for
its mail (firmware/espnow.py POLL) and is not passed on. The bridge is a Trygg device of
its own: its hello and heartbeats (sealed with its own key, sent up the same line) let the
hub supervise it like any device.
"""

import asyncio
import time

from hw import low_power

from ..serial_link import SerialLink
from .base import Role

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class BridgeRole(Role):
    NAME = "bridge"
    link = SerialLink
    CONFIG = {
        # Frames for sleeping devices: an ack and a command or two per device of a home.
        "bridge_mailbox": (16, 2, 64),
        # A battery device is heard at least every heartbeat (5 min by default); an ack older
        # than two of them is of no use (the device has sent the frame again since).
        "mailbox_ttl_s": (600, 10, 86400),
        # The Wi-Fi channel it listens on; every battery device of the home uses the same.
        "espnow_channel": (1, 1, 13),
    }

    def setup(self) -> None:
        link = self.line = self.device.link
        link.relay_down = self._down
        link.credit = self._room
        self.radio = low_power.of(self.hal).radio(link.mac, self.cfg["espnow_channel"], True)
        self.mailbox: list[Any] = []  # [mac, frame, expires ticks_ms]
        self._new: list[bytes] = []  # MACs with fresh mail, to try at once
        self._flag = asyncio.Event()
        self.relayed = 0
        self.expired = 0

    def _room(self) -> int:
        return self.cfg["bridge_mailbox"] - len(self.mailbox)

    def _down(self, mac: bytes, frame: "Any") -> None:
        if not self._room():  # the hub kept to its credit; a hub that did not loses the oldest
            self.mailbox.pop(0)
            self.expired += 1
        self.mailbox.append([mac, bytes(frame),
                             time.ticks_add(time.ticks_ms(), self.cfg["mailbox_ttl_s"] * 1000)])
        if mac not in self._new:
            self._new.append(mac)
        self._flag.set()

    async def _deliver(self, mac: bytes) -> None:
        sent = 0
        for item in list(self.mailbox):
            if item[0] == mac:
                if not await self.radio.send(mac, item[1]):
                    break  # asleep again: kept for the next time it is heard
                self.mailbox.remove(item)
                sent += 1
        if sent:
            self.line.send_credit()  # room again: the hub may send more

    def _expire(self) -> None:
        now = time.ticks_ms()
        for item in list(self.mailbox):
            if time.ticks_diff(item[2], now) < 0:
                self.mailbox.remove(item)
                self.expired += 1

    async def _push(self) -> None:
        while True:
            await self._flag.wait()
            self._flag.clear()
            while self._new:
                await self._deliver(self._new.pop(0))

    async def run(self) -> None:
        self._pusher = asyncio.create_task(self._push())
        radio = self.radio
        while True:
            got = await radio.recv(1000)
            if got is None:
                self._expire()
                continue
            mac, msg = got
            if len(msg) > 1:
                self.line.write("U", mac, msg)
                self.relayed += 1
            await self._deliver(mac)

    def report(self, msg: "dict[str, Any]") -> None:
        print("bridge: relayed %d, mailbox %d, expired %d, radio dropped %d, line corrupt %d"
              % (self.relayed, len(self.mailbox), self.expired, self.radio.dropped,
                 self.line.corrupt))


ROLE = BridgeRole
