"""ESP-NOW bridge role: an ESP32 on the hub's USB port (firmware/serial_link.py).

It relays: every frame heard on ESP-NOW goes to the hub as a ``U`` line with the
sender's MAC (protocol/bridge.py); every frame the hub sends for a battery device (its
acks, its commands) waits in a mailbox and is sent when that device can hear it: at once
(a device that just sent is listening for its ack) and again whenever the device is next
heard, until its radio acknowledges it or ``mailbox_ttl_s`` passes (an ack that expires
costs a resend, which the hub acks again). The mailbox's free room is the hub's credit.

A radio's acknowledgement proves only that something with the device's MAC heard the frame:
a neighbour forging that MAC can poll while the device sleeps and take its mail. So a frame
is kept after its delivery, until it expires or its room is needed for an undelivered one
(which alone count against the credit), and everything kept is sent again when the device
polls (``?``: it is waiting for a command, as the wearable button after a call). The device's
replay window drops what it already had. Acks are not worth more than that: a device whose
ack was taken sends the frame again at its next wake and the hub acks it again, live.

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
        self.mailbox: list[Any] = []  # [mac, frame, expires ticks_ms, delivered 0|1]
        self._new: list[bytes] = []  # MACs with fresh mail, to try at once
        self._flag = asyncio.Event()
        self.relayed = 0
        self.expired = 0

    def _room(self) -> int:
        return self.cfg["bridge_mailbox"] - sum(1 for item in self.mailbox if not item[3])

    def _down(self, mac: bytes, frame: "Any") -> None:
        if len(self.mailbox) >= self.cfg["bridge_mailbox"]:
            # Room from the oldest delivered frame; a hub that ignored its credit loses the
            # oldest undelivered one.
            old = 0
            for i in range(len(self.mailbox)):
                if self.mailbox[i][3]:
                    old = i
                    break
            if not self.mailbox.pop(old)[3]:
                self.expired += 1
        self.mailbox.append([mac, bytes(frame),
                             time.ticks_add(time.ticks_ms(), self.cfg["mailbox_ttl_s"] * 1000),
                             0])
        if mac not in self._new:
            self._new.append(mac)
        self._flag.set()

    async def _deliver(self, mac: bytes, again: bool = False) -> None:
        """Send ``mac`` its undelivered frames, and with ``again`` (a poll) the delivered
        ones it is kept as well."""
        sent = 0
        for item in list(self.mailbox):
            if item[0] == mac and (again or not item[3]):
                if not await self.radio.send(mac, item[1]):
                    break  # asleep again: kept for the next time it is heard
                if not item[3]:
                    item[3] = 1
                    sent += 1
        if sent:
            self.line.send_credit()  # room again: the hub may send more

    def _expire(self) -> None:
        now = time.ticks_ms()
        for item in list(self.mailbox):
            if time.ticks_diff(item[2], now) < 0:
                self.mailbox.remove(item)
                if not item[3]:  # never delivered: a frame lost (delivered ones are spares)
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
            await self._deliver(mac, len(msg) == 1)

    def report(self, msg: "dict[str, Any]") -> None:
        print("bridge: relayed %d, mailbox %d, expired %d, radio dropped %d, line corrupt %d"
              % (self.relayed, len(self.mailbox), self.expired, self.radio.dropped,
                 self.line.corrupt))


ROLE = BridgeRole
