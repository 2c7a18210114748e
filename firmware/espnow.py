"""The ESP-NOW transport of the link interface (firmware/link.py), for battery devices.

A battery device is awake for one exchange and then in deep sleep (firmware/device.py,
``Device.wake``): it sends its frames to the bridge (firmware/roles/bridge.py) on the hub's
USB port, which passes them to the hub over serial and the hub's acks and commands back.
There is no connection to keep up: the link is "up" while the radio is on, and ``send()``
is True when the bridge's radio acknowledged the frame (the link layer: the hub's signed
ack is what empties the outbox). Frames from the bridge (acks, commands the bridge kept in
its mailbox for us) are handed to ``on_frame`` as they come.

The radio is started on the first ``send()`` or ``poll()``, so a wake with nothing to send
never powers it (the radio is the largest current of a wake: bench energy). The device's
MAC is derived from its id (protocol.bridge.mac_for), the address the hub sends to.
"""

import asyncio
import binascii
import time

from micropython import const

from hw import low_power
from protocol.bridge import mac_for

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# Asks the bridge for what its mailbox holds for us without sending a frame (the bridge
# forwards no 1-byte datagram to the hub: a frame is never shorter than 20 bytes).
POLL = b"?"
# A battery role's bridge_mac until provisioning sets it (firmware/config.py: a local setting
# of as many hex digits as this default; EspNowLink.CONFIG); no ESP32 has this MAC.
NO_BRIDGE = "000000000000"


def needs_bridge(cfg: "dict[str, Any]", changes: "dict[str, Any]") -> "str | None":
    """A battery role's configuration rule (roles/base.py, conflict): it knows its bridge."""
    if cfg["bridge_mac"] == NO_BRIDGE:
        return ("bridge_mac: not set: provision the device with trygg provision, which "
                "writes its bridge's MAC")
    return None


class EspNowLink:
    # The link's own settings: every role on it has them (its ``link`` is this class).
    # Declared as a role's ``CONFIG`` is (firmware/roles/base.py), a plain literal:
    # firmware/config.py lays the role's settings over these, and the hub reads both from
    # the source (trygg.hub.roles) without running it.
    CONFIG = {
        # The Wi-Fi channel the bridge listens on (every device of a home on the same one;
        # 1, 6 and 11 do not overlap). The bridge declares its own (firmware/roles/bridge.py).
        "espnow_channel": (1, 1, 13),
        # The bridge's MAC (12 hex digits, protocol.bridge.mac_for of the bridge's device id;
        # trygg provision writes it): the only peer. Until then NO_BRIDGE (a literal here: the
        # hub reads CONFIG).
        "bridge_mac": "000000000000",
        # How long to wait for the hub's ack after the last frame: the bridge's serial line,
        # the hub's group commit (one fsync, ~10-30 ms on an SD card) and back, with room to
        # spare; every millisecond is radio receive current (trygg bench energy).
        "espnow_ack_ms": (300, 20, 5000),
        # Send-and-wait rounds per wake (a command's result takes one more): bounds a wake.
        "espnow_rounds": (3, 1, 10),
        # Unacked frames left after a wake (bridge out of reach, hub away): try again after
        # this, doubling up to the heartbeat, rather than only at the next event or heartbeat.
        "espnow_retry_s": (30, 1, 86400),
        # Awake this long before the first deep sleep after a power-up or a reset (a battery
        # swap, the EN button, the USB cable plugged in), not after a wake from deep sleep: a
        # sleeping ESP32 does not hear its UART, so this is when a technician's serial tool
        # (trygg provision, mpremote) can stop the firmware with Ctrl-C to re-provision it.
        # Costs ~3 s at CPU current (the radio is off) once per battery swap (firmware/wake.py).
        "espnow_service_s": (3, 0, 60),
    }

    def __init__(self, hal: "Any", cfg: "dict[str, Any]", on_frame: "Any") -> None:
        self.hal = hal
        self.cfg = cfg
        self.on_frame = on_frame
        self.up = True  # nothing to connect: a frame is sent or it is not
        self.reconnects = 0
        self.bridge = binascii.unhexlify(cfg["bridge_mac"])
        self.radio: Any = None
        self.radio_on_ms: Any = 0  # ticks_ms when the radio was started (bench energy)
        self.sent_frames = 0
        self.sent_bytes = 0
        self.failed = 0  # sends the bridge did not acknowledge (out of range, bridge off)
        self._got = asyncio.Event()

    def _start(self) -> "Any":
        if self.radio is None:
            self.radio_on_ms = time.ticks_ms()
            own = mac_for(binascii.unhexlify(self.cfg["device_id"]))
            self.radio = low_power.of(self.hal).radio(own, self.cfg["espnow_channel"])
            self._rx = asyncio.create_task(self._receive())
        return self.radio

    async def _receive(self) -> None:
        radio = self.radio
        while True:
            got = await radio.recv(60000)
            if got is not None and got[0] == self.bridge:  # anyone else: not our bridge
                self.on_frame(got[1])
                self._got.set()

    async def wait_up(self) -> None:
        pass

    async def run(self) -> None:
        await asyncio.Event().wait()  # nothing to keep up; the radio starts on demand

    async def send(self, frame: "Any") -> bool:
        ok = await self._start().send(self.bridge, frame)
        self.sent_frames += 1
        self.sent_bytes += len(frame)
        if not ok:
            self.failed += 1
        return ok

    async def poll(self) -> bool:
        """Ask the bridge for what it keeps for us; True when the bridge heard the poll."""
        ok = await self._start().send(self.bridge, POLL)
        self.sent_frames += 1
        self.sent_bytes += 1
        return ok

    async def wait_frame(self, timeout_ms: int) -> bool:
        """Until a frame from the bridge arrives (True) or ``timeout_ms`` passes (False)."""
        self._got.clear()
        try:
            await asyncio.wait_for_ms(self._got.wait(), timeout_ms)
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Power the radio down (its receiving task with it): the wake has heard all it will."""
        if self.radio is not None:
            self._rx.cancel()
            self.radio.close()

    async def wake(self, device: "Any") -> None:
        """The battery device's life between deep sleeps, in place of Device.run."""
        from .wake import wake

        await wake(device)
