"""A simulated ESP-NOW medium: the radio between simulated boards, as datagrams on loopback.

The MicroPython unix port has no radio, so a simulated board's ESP-NOW (hw/sim/radio.py)
sends its frames as UDP datagrams to this medium on 127.0.0.1, which delivers them to the
board with the destination MAC, or to every board for the broadcast address, and answers
the sender with the link-layer outcome, as the ESP32's ESP-NOW does for a unicast send (the
receiver's MAC acknowledges the frame; ``send()`` returns whether it did). What a test can
set, per medium or per board:

* ``loss``: the probability that a frame is lost (after the radio's own retries);
* ``delay_s``: the time a frame takes to arrive (and its outcome to come back);
* ``out_of_range``: boards that neither hear nor are heard (a device carried out of the
  house, a bridge unplugged).

``inject()`` puts a frame on the air from any MAC: a hostile neighbour. A neighbour may also
use a device's MAC as its own (a UDP socket sending ``F`` from it): every radio with a MAC
hears the frames sent to it and acknowledges them, as on the air, where two receivers of
one address both take a unicast frame.

Datagrams (board -> medium): ``R<mac>`` registers the board's MAC at its UDP address,
``U<mac>`` takes it off the air (its radio powered down for deep sleep: nothing acknowledges
a frame to it);
``F<src mac><dst mac><payload>`` is a frame. Medium -> board: ``F<src mac><payload>``, and
``A<1|0>`` the outcome of the board's last unicast send (``A1`` at once for a broadcast).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

BROADCAST = b"\xff" * 6
MAX_PAYLOAD = 250  # ESP-NOW v1 (ESP-IDF esp_now.h: ESP_NOW_MAX_DATA_LEN)
MAX_DATAGRAM = 1 + 12 + MAX_PAYLOAD
# Radios remembered per MAC (the device, a board restarted after a kill whose old socket is
# gone, a neighbour forging the MAC): the most recent ones.
MAX_RADIOS_PER_MAC = 4


@dataclass
class MediumCounts:
    delivered: int = 0
    lost: int = 0  # by the loss probability
    unreachable: int = 0  # no such MAC, or out of range
    oversized: int = 0
    injected: int = 0
    per_destination: dict[str, int] = field(default_factory=dict)


class EspNowMedium:
    """The air between simulated boards; a thread on a loopback UDP port."""

    def __init__(self, *, loss: float = 0.0, delay_s: float = 0.0, seed: int = 1) -> None:
        self.loss = loss
        self.delay_s = delay_s
        self.out_of_range: set[bytes] = set()
        self.counts = MediumCounts()
        self._random = random.Random(seed)
        self._boards: dict[bytes, list[tuple[str, int]]] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="espnow-medium", daemon=True)
        self._thread.start()

    def set_in_range(self, mac: bytes, in_range: bool) -> None:
        with self._lock:
            (self.out_of_range.discard if in_range else self.out_of_range.add)(mac)

    def inject(self, src: bytes, dst: bytes, payload: bytes) -> bool:
        """Transmit ``payload`` from ``src`` (any MAC, a neighbour's or a forged one)."""
        with self._lock:
            self.counts.injected += 1
        return self._deliver(src, dst, payload)

    def _deliver(self, src: bytes, dst: bytes, payload: bytes) -> bool:
        with self._lock:
            if len(payload) > MAX_PAYLOAD or not payload:
                self.counts.oversized += 1
                return False
            if src in self.out_of_range:
                self.counts.unreachable += 1
                return False
            targets = ([m for m in self._boards if m != src] if dst == BROADCAST
                       else [dst] if dst in self._boards else [])
            targets = [m for m in targets if m not in self.out_of_range]
            if not targets:
                self.counts.unreachable += 1
                return False
            if self._random.random() < self.loss:
                self.counts.lost += 1
                return False
            self.counts.delivered += 1
            key = dst.hex()
            self.counts.per_destination[key] = self.counts.per_destination.get(key, 0) + 1
            addresses = [a for m in targets for a in self._boards[m]]
        for address in addresses:
            self._send(b"F" + src + payload, address)
        return True

    def _send(self, data: bytes, address: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):  # the medium is closing
            self._sock.sendto(data, address)

    def _serve(self) -> None:
        while not self._stopping:
            try:
                data, address = self._sock.recvfrom(MAX_DATAGRAM + 64)
            except OSError:
                return
            if data[:1] == b"R" and len(data) == 7:
                self._register(data[1:7], address)
            elif data[:1] == b"U" and len(data) == 7:  # its radio is off (deep sleep)
                with self._lock:
                    radios = self._boards.get(data[1:7], [])
                    if address in radios:
                        radios.remove(address)
                    if not radios:
                        self._boards.pop(data[1:7], None)
            elif data[:1] == b"F" and len(data) > 13:
                src, dst, payload = data[1:7], data[7:13], data[13:]
                self._register(src, address)
                if self.delay_s:
                    threading.Thread(target=self._later, args=(src, dst, payload, address),
                                     daemon=True).start()
                else:
                    self._outcome(src, dst, payload, address)

    def _register(self, mac: bytes, address: tuple[str, int]) -> None:
        with self._lock:
            radios = self._boards.setdefault(mac, [])
            if address not in radios:
                radios.append(address)
                del radios[:-MAX_RADIOS_PER_MAC]

    def _later(self, src: bytes, dst: bytes, payload: bytes, address: tuple[str, int]) -> None:
        time.sleep(self.delay_s)
        self._outcome(src, dst, payload, address)

    def _outcome(self, src: bytes, dst: bytes, payload: bytes, address: tuple[str, int]) -> None:
        ok = self._deliver(src, dst, payload)
        # ESP-NOW reports no link-layer outcome for a broadcast: the sender learns "sent".
        self._send(b"A1" if ok or dst == BROADCAST else b"A0", address)

    def close(self) -> None:
        self._stopping = True
        self._sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> EspNowMedium:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class ForgedRadio:
    """A hostile neighbour whose radio uses another device's MAC: it polls the bridge as that
    device (firmware/espnow.py POLL) every ``every_s`` and keeps what it is sent."""

    def __init__(self, medium_port: int, mac: bytes, bridge: bytes, *,
                 every_s: float = 0.02, limit_s: float = 120.0) -> None:
        self.frames: list[bytes] = []
        self._mac, self._bridge, self._every_s = mac, bridge, every_s
        self._deadline = time.monotonic() + limit_s  # a bound, whatever the test does
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.connect(("127.0.0.1", medium_port))
        self._sock.settimeout(every_s)
        self._thread = threading.Thread(target=self._run, name="forged-radio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with contextlib.suppress(OSError):
                self._sock.send(b"F" + self._mac + self._bridge + b"?")
            end = time.monotonic() + self._every_s
            while time.monotonic() < end:
                try:
                    data = self._sock.recv(MAX_DATAGRAM + 64)
                except OSError:  # timeout, or closing
                    break
                if data[:1] == b"F" and len(data) > 7:
                    self.frames.append(data[7:])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self._sock.send(b"U" + self._mac)
        self._sock.close()

    def __enter__(self) -> ForgedRadio:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
