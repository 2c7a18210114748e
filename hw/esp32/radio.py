"""ESP-NOW on the ESP32, over MicroPython's ``aioespnow``.

The interface the firmware uses (the simulated board's hw/sim/radio.py offers the same):

    radio = Esp32Radio(mac, channel)  # Wi-Fi station up (not associated), own MAC set
    ok = await radio.send(peer, msg)  # True: the peer's radio acknowledged it (link layer)
    got = await radio.recv(timeout_ms)  # (mac, msg) or None
    radio.dropped                      # frames lost to a full receive buffer

Why these steps (MicroPython docs, espnow, "ESPNow and Wifi Operation" and "ESPNow and
Sleep Modes"): ESP-NOW needs the station interface active; every device of a home must be on
the bridge's channel, set here because nothing associates with an access point; the radio
is brought up again after every wake from deep sleep, since deep sleep powers it down; a
peer must be registered before a unicast send. The MAC is set before the interface starts
(esp_wifi_set_mac needs the interface down): the hub addresses acks and commands to the MAC
derived from the device id (protocol.bridge.mac_for).
"""

import asyncio

import aioespnow
import network
from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# Receive buffer: the bridge hears a whole house; a battery device waits for one or two
# frames (its ack, a command). 2 KB holds 7 frames of 250 bytes with their headers.
_RXBUF = const(2048)


class Esp32Radio:
    def __init__(self, mac: bytes, channel: int, always_on: bool = False) -> None:
        self.mac = mac
        self.dropped = 0
        sta = network.WLAN(network.STA_IF)
        sta.active(False)
        sta.config(mac=mac)
        sta.active(True)
        sta.config(channel=channel)
        if always_on:
            # The bridge listens all the time: Wi-Fi power save would sleep the receiver
            # between beacons and lose frames from battery devices.
            sta.config(pm=sta.PM_NONE)
        e = self._e = aioespnow.AIOESPNow()
        e.active(True)
        e.config(rxbuf=_RXBUF)
        self._peers: list[bytes] = []

    async def send(self, peer: bytes, msg: "Any") -> bool:
        if peer not in self._peers:
            try:
                self._e.add_peer(peer)
            except OSError:  # ESP_ERR_ESPNOW_EXIST, or the peer table (20) is full
                pass
            self._peers.append(peer)
        try:
            return bool(await self._e.asend(peer, msg, True))
        except OSError:  # ESP_ERR_ESPNOW_NOT_FOUND etc.: not sent
            return False

    async def recv(self, timeout_ms: int) -> "Any":
        try:
            got: Any = await asyncio.wait_for_ms(self._e.arecv(), timeout_ms)
        except asyncio.TimeoutError:
            return None
        if got[0] is None:
            return None
        return bytes(got[0]), got[1]

    def close(self) -> None:
        self._e.active(False)
