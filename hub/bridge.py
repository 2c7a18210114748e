"""The hub's end of the serial line to the ESP-NOW bridge (firmware/roles/bridge.py).

Battery devices send their frames on ESP-NOW to the bridge, an ESP32 on the hub's USB port,
which writes them on its console UART as checked lines (protocol/bridge.py). Here each ``U``
line's frame goes to the same ingest as a frame from the broker (``Ingest.on_frame``, under
the topic of the frame's key id): the same verification, replay window, store-before-ack and
supervision. Acks and commands for a device heard through the bridge go back as ``D`` lines,
no more at a time than the bridge's credit (``K``), so its mailbox never overflows.

The line is expected to fail: a pulled cable or a rebooting bridge ends the read with an
error or a hang-up; the port is closed and opened again every ``reopen_s`` until it is back,
and the hub asks for the bridge's credit (``S``) after each opening. Nothing in between needs
to be kept: a frame lost on the line was never acked, so the device sends it again, and the
ack of a frame stored twice is sent again (ingest's ``reacked``). What the line damaged,
and what arrived from no paired device, is counted with ingest's rejections.

pyserial's blocking reads run on a thread of their own; everything else is on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from trygg.protocol import bridge as line
from trygg.protocol import cose
from trygg.protocol.errors import ProtocolError

from .config import BridgeConfig
from .ingest import UNKNOWN_DEVICE, Ingest, up_topic

log = logging.getLogger("trygg.hub.bridge")

# Rejection reasons of the serial line, next to ingest's.
LINE_CORRUPT = "bridge_line_corrupt"
BRIDGE_QUEUE_FULL = "bridge_queue_full"  # log and count only: a downlink dropped
_READ_TIMEOUT_S = 1.0  # a read returns this often, so a closing port is noticed
_WRITE_TIMEOUT_S = 2.0  # a bridge that takes no bytes this long is treated as gone


class BridgeLink:
    """Reads the bridge's lines into ingest and writes downlinks to it."""

    def __init__(self, config: BridgeConfig, ingest: Ingest,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.ingest = ingest
        self._clock = clock
        self.counts = {"lines": 0, "noise": 0, "corrupt": 0, "uplinks": 0, "downlinks": 0,
                       "dropped": 0, "opened": 0}
        self.bridged: set[str] = set()  # devices whose verified frames came over the bridge
        # Paired devices whose role talks ESP-NOW (set by the service from the pairing): the
        # bridge carries them from the start, before a restarted hub has heard them, so that
        # commands to them (the button's indicate) do not go to the broker meanwhile.
        self.espnow: set[str] = set()
        # Called with a bridged device's id at the first verified frame of each of its wakes
        # (the service: CommandSender.device_woke), when the device listens for a moment.
        self.on_wake: Callable[[str], None] | None = None
        self._heard_at: dict[str, float] = {}  # device -> time.monotonic() of its last frame
        self.connected = asyncio.Event()
        self._credit = 0
        self._queue: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._serial: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- downlink -------------------------------------------------------------------------

    def carries(self, device_id: str) -> bool:
        return device_id in self.bridged or device_id in self.espnow

    def send(self, device_id: str, data: bytes) -> None:
        """Queue a frame for a bridged device; sent as the bridge's credit allows."""
        if len(self._queue) >= self.config.queue_max:
            self._queue.popleft()
            self.counts["dropped"] += 1
            self.ingest.rejection_log.note("bridge", BRIDGE_QUEUE_FULL, "bridge downlink "
                                           "queue full (%d): oldest frame dropped",
                                           self.config.queue_max)
        self._queue.append((line.mac_for(bytes.fromhex(device_id)), data))
        self._flush()

    def _flush(self) -> None:
        while self._queue and self._credit > 0 and self._serial is not None:
            mac, data = self._queue.popleft()
            if not self._write(line.encode(line.DOWNLINK, mac, data)):
                self._queue.appendleft((mac, data))
                return
            self._credit -= 1
            self.counts["downlinks"] += 1

    def _write(self, data: bytes) -> bool:
        port = self._serial
        if port is None:
            return False
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            log.warning("bridge: write failed (%s); reopening", exc)
            self._close()
            return False
        return True

    # -- uplink ---------------------------------------------------------------------------

    def on_line(self, raw: bytes) -> None:
        """One line from the bridge. Never raises."""
        self.counts["lines"] += 1
        now = self._clock()
        try:
            got = line.decode(raw)
        except ProtocolError as exc:
            self.counts["corrupt"] += 1
            self.ingest.reject(UNKNOWN_DEVICE, LINE_CORRUPT, now, str(exc))
            return
        if got is None:
            self.counts["noise"] += 1
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                log.debug("bridge console: %s", text[:200])
            return
        kind, address, data = got
        if kind == line.CREDIT:
            self._credit = line.count_of(address)
            self._flush()
        elif kind == line.UPLINK:
            self._uplink(data, now)

    def _uplink(self, data: bytes, now: float) -> None:
        self.counts["uplinks"] += 1
        try:
            kid = cose.parse(data)[3]
        except ProtocolError as exc:
            self.ingest.counts["received"] += 1
            self.ingest.reject(UNKNOWN_DEVICE, exc.reason, now, "from the bridge: " + str(exc))
            return
        except Exception:  # defensive: nothing a neighbour transmits may stop the hub
            self.ingest.counts["received"] += 1
            self.ingest.reject(UNKNOWN_DEVICE, "malformed", now, "from the bridge")
            return
        if len(kid) != 6:
            self.ingest.counts["received"] += 1
            self.ingest.reject(UNKNOWN_DEVICE, "bad_topic", now, f"key id {kid.hex()[:32]}")
            return
        device_id = kid.hex()
        rejected = self.ingest.counts["rejected"]
        self.ingest.on_frame(up_topic(device_id), data, now)
        # on_frame authenticates at once (it rejects synchronously): only a device whose frame
        # verified is answered over the bridge, so a neighbour forging a Wi-Fi device's key id
        # cannot divert that device's acks.
        if self.ingest.counts["rejected"] != rejected:
            return
        if device_id not in self.bridged:
            self.bridged.add(device_id)
            log.info("bridge: device %s is heard through the ESP-NOW bridge", device_id)
        self._heard(device_id)

    def _heard(self, device_id: str) -> None:
        """A verified frame of ``device_id``: the first of a wake (none for ``wake_gap_s``)
        is told to ``on_wake``, once, however many frames the wake brings. Verified only (a
        copy of an old frame replayed by a neighbour verifies too, and is acked again): a
        neighbour can bring about one wake's downlink per ``wake_gap_s``, no more."""
        now = time.monotonic()  # a gap: the wall clock may be set meanwhile
        last = self._heard_at.get(device_id)
        self._heard_at[device_id] = now
        if (last is None or now - last >= self.config.wake_gap_s) and self.on_wake is not None:
            self.on_wake(device_id)

    # -- the port ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the port, read it, and open it again after every failure. Runs until
        cancelled."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    port = await asyncio.to_thread(
                        serial.Serial, self.config.port, self.config.baud,
                        timeout=_READ_TIMEOUT_S, write_timeout=_WRITE_TIMEOUT_S)
                except (serial.SerialException, OSError) as exc:
                    log.debug("bridge: %s not open (%s)", self.config.port, exc)
                    await asyncio.sleep(self.config.reopen_s)
                    continue
                self._serial = port
                self._credit = 0
                self.counts["opened"] += 1
                log.info("bridge: %s open", self.config.port)
                self.connected.set()
                done = asyncio.Event()
                reader = threading.Thread(target=self._read, args=(port, done),
                                          name="trygg-bridge-read", daemon=True)
                reader.start()
                self._write(line.encode(line.SYNC, 0))
                try:
                    await done.wait()
                finally:
                    self._close()
                log.warning("bridge: %s lost (cable pulled or bridge reset); reopening",
                            self.config.port)
                await asyncio.sleep(self.config.reopen_s)
        finally:
            self._close()

    def _read(self, port: Any, done: asyncio.Event) -> None:
        loop = self._loop
        assert loop is not None
        try:
            while self._serial is port:
                raw = port.readline()
                if raw:
                    loop.call_soon_threadsafe(self.on_line, raw)
        except (serial.SerialException, OSError, TypeError, AttributeError):
            pass  # the port went away (pyserial raises TypeError on a closed fd at times)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the hub is stopping
                loop.call_soon_threadsafe(done.set)

    def _close(self) -> None:
        port, self._serial = self._serial, None
        self._credit = 0
        self.connected.clear()
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
