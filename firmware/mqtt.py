"""MQTT 3.1.1 client for the device link (OASIS MQTT 3.1.1, cited as §x.y).

Only what a Trygg device needs: CONNECT with a clean session, QoS 1 PUBLISH of
uplink frames with PUBACK tracking, SUBSCRIBE (QoS 1) to the downlink topic,
PINGREQ keepalive, DISCONNECT never (the broker detects us gone by keepalive).

Resilience in the manner of Peter Hinch's mqtt_as: Wi-Fi and broker loss are
normal states, not exceptions that escape; every socket operation is
non-blocking under asyncio with a timeout; reconnects back off exponentially
with jitter up to a cap; buffers are allocated once. Delivery is confirmed end
to end by the hub's signed ack (firmware/outbox.py), so a clean session is
enough: anything in flight when the link drops is simply sent again.

Topics: ``trygg/<device-id>/up`` (device -> hub), ``trygg/<device-id>/down``.
"""

import asyncio
import random
import time

from micropython import const

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# Packet types (§2.2.1), first byte with the flags the spec fixes for each.
_CONNECT = const(0x10)
_CONNACK = const(2)
_PUBLISH = const(3)
_PUBACK = const(4)
_SUBSCRIBE = const(0x82)  # §3.8.1: flags 0010
_SUBACK = const(9)
_PINGREQ = const(0xC0)
_PINGRESP = const(13)

# A frame is at most 256 bytes (protocol.cose.MAX_FRAME_SIZE); with the fixed header, the
# topic "trygg/<12 hex>/down" and a packet id an incoming PUBLISH fits 300 bytes. Anything
# longer is read off the socket in pieces and rejected, never buffered.
_BUF_SIZE = const(300)
_MAX_REMAINING = const(268435455)  # §2.2.3
_WATCH_MS = const(1000)  # Wi-Fi and broker supervision period


class MqttError(OSError):
    """The broker broke the protocol or the connection is gone (an OSError like the socket's)."""


class MqttLink:
    """The MQTT transport of the link interface (firmware/link.py)."""

    def __init__(self, hal: "Any", cfg: "dict[str, Any]", on_frame: "Any") -> None:
        self.on_frame = on_frame
        self.up = False
        self._up_event = asyncio.Event()
        self.reconnects = 0
        self.hal = hal
        self.cfg = cfg
        device_id = cfg["device_id"]
        self._client_id = ("trygg-" + device_id).encode()
        self.up_topic = ("trygg/%s/up" % device_id).encode()
        self.down_topic = ("trygg/%s/down" % device_id).encode()
        self._tx = bytearray(_BUF_SIZE)
        self._txv = memoryview(self._tx)
        self._rx = bytearray(_BUF_SIZE)
        self._rxv = memoryview(self._rx)
        self._byte = bytearray(1)
        self._bytev = memoryview(self._byte)
        self._flags = 0
        self._timeout = cfg["link_timeout_ms"]
        self._keepalive_ms = cfg["mqtt_keepalive_s"] * 1000
        self._reader: Any = None
        self._writer: Any = None
        self._pid = 0
        self._wait_pid = 0
        self._acked_pid = 0
        self._puback = asyncio.Event()
        self._session_task: Any = None
        self._last_rx: Any = 0
        # ticks_ms when a write (drain) or the wait for a PUBACK began; -1: not waiting.
        self._drain_since: Any = -1
        self._puback_since: Any = -1
        self.failures = 0

    # -- connection life cycle ---------------------------------------------------

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
        while True:
            # A task of its own, so the watcher can end it: closing a socket does not wake a
            # task blocked reading it on every port (the unix port's poll skips closed fds).
            self._session_task = asyncio.create_task(self._session())
            try:
                await self._session_task
            except asyncio.CancelledError:
                pass  # ended by the watcher, which said why
            except (OSError, asyncio.TimeoutError) as e:
                print("link: down (%s: %s)" % (type(e).__name__, e))
            self._close()
            await asyncio.sleep_ms(self._backoff_ms())

    def _backoff_ms(self) -> int:
        self.failures = min(self.failures + 1, 20)
        cap = self.cfg["reconnect_max_s"] * 1000
        delay = min(cap, self.cfg["reconnect_min_ms"] << (self.failures - 1))
        # "Equal jitter": half fixed, half random, so devices restarted together spread out.
        half = delay // 2
        return half + random.getrandbits(16) % (half + 1)

    def _close(self) -> None:
        self._set_up(False)
        self._drain_since = self._puback_since = -1
        self._puback.set()  # release a sender waiting for a PUBACK that will not come
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError:
                pass
        self._reader = self._writer = None

    async def _session(self) -> None:
        cfg = self.cfg
        if not await self.hal.wifi_connect(cfg["wifi_ssid"], cfg["wifi_password"],
                                           self._timeout):
            raise MqttError("Wi-Fi %r not reachable" % cfg["wifi_ssid"])
        self._reader, self._writer = await asyncio.wait_for_ms(
            asyncio.open_connection(cfg["broker_host"], cfg["broker_port"]), self._timeout)
        try:
            # Small frames must leave at once: Nagle's algorithm (RFC 896) holding a PUBLISH
            # until the previous segment's ACK, which the peer delays (RFC 1122 §4.2.3.2), adds
            # ~40 ms to an alarm. IPPROTO_TCP = 6, TCP_NODELAY = 1 on lwIP and Linux alike.
            self._writer.s.setsockopt(6, 1, 1)
        except (AttributeError, OSError):
            pass
        # CONNECT (§3.1), clean session (§3.1.2.4): the outbox, not the broker, keeps state.
        user = cfg["mqtt_username"].encode()
        password = cfg["mqtt_password"].encode()
        flags = 0x02
        rem = 10 + 2 + len(self._client_id)
        if user:
            flags |= 0x80 | 0x40
            rem += 4 + len(user) + len(password)
        pos = self._put_str(self._head(_CONNECT, rem), b"MQTT")
        ka = self._keepalive_ms // 1000
        self._tx[pos : pos + 4] = bytes((4, flags, ka >> 8, ka & 0xFF))  # level 4 = 3.1.1
        pos = self._put_str(pos + 4, self._client_id)
        if user:
            pos = self._put_str(self._put_str(pos, user), password)
        await self._write(pos)
        reply: tuple[int, int] = await asyncio.wait_for_ms(self._read_packet(), self._timeout)
        if reply[0] != _CONNACK or reply[1] != 2:
            raise MqttError("expected CONNACK, got packet type %d" % reply[0])
        if self._rx[1] != 0:
            # §3.2.2.3: 4 = bad user name or password, 5 = not authorised.
            raise MqttError("broker refused the connection, return code %d" % self._rx[1])
        # SUBSCRIBE (§3.8) to the downlink topic with QoS 1.
        pid = self._next_pid()
        pos = self._head(_SUBSCRIBE, 2 + 2 + len(self.down_topic) + 1)
        self._tx[pos] = pid >> 8
        self._tx[pos + 1] = pid & 0xFF
        pos = self._put_str(pos + 2, self.down_topic)
        self._tx[pos] = 1
        await self._write(pos + 1)
        reply = await asyncio.wait_for_ms(self._read_packet(), self._timeout)
        if reply[0] != _SUBACK or reply[1] != 3 or self._rx[2] & 0x80:
            raise MqttError("subscription to %s refused" % self.down_topic.decode())
        self.failures = 0
        self._last_rx = time.ticks_ms()
        self._set_up(True)
        print("link: up, %s:%d" % (cfg["broker_host"], cfg["broker_port"]))
        watch = asyncio.create_task(self._watch())
        try:
            while self.up:
                await self._receive()
        finally:
            watch.cancel()

    async def _watch(self) -> None:
        """Keep the session honest: close it when Wi-Fi is lost or the broker went silent.

        Also the one timeout on writes and PUBACKs (``link_timeout_ms``), which therefore
        cost no task per frame.

        Wi-Fi is checked every second, as mqtt_as does: a lost access point leaves the TCP
        connection looking open until a write times out. The broker gets a PINGREQ every half
        keepalive (§3.1.2.10) and answers PINGRESP; silent for 1.5x the keepalive it is gone
        (a half-open connection after a router restart never fails by itself). Closing the
        session ends it: one watcher here rather than a timeout around each read.
        """
        since_ping = 0
        while True:
            await asyncio.sleep_ms(_WATCH_MS)
            now = time.ticks_ms()
            if not self.hal.wifi_connected():
                print("link: Wi-Fi lost")
            elif time.ticks_diff(now, self._last_rx) > self._keepalive_ms * 3 // 2:
                print("link: broker silent for 1.5 x keepalive")
            elif self._overdue(now, self._drain_since) or self._overdue(now, self._puback_since):
                print("link: no answer from the broker within link_timeout_ms")
            else:
                since_ping += _WATCH_MS
                if since_ping >= self._keepalive_ms // 2:
                    since_ping = 0
                    self._tx[0] = _PINGREQ
                    self._tx[1] = 0
                    self._writer.write(self._txv[:2])  # the next drain flushes what is left
                continue
            self._close()
            self._session_task.cancel()
            return

    def _overdue(self, now: "Any", since: "Any") -> bool:
        return since >= 0 and time.ticks_diff(now, since) > self._timeout

    # -- packets -------------------------------------------------------------------

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1  # §2.3.1: non-zero
        return self._pid

    def _put_str(self, pos: int, s: bytes) -> int:
        n = len(s)
        self._tx[pos] = n >> 8
        self._tx[pos + 1] = n & 0xFF
        self._tx[pos + 2 : pos + 2 + n] = s
        return pos + 2 + n

    def _head(self, first: int, remaining: int) -> int:
        """Write the fixed header (§2.2) at the start of tx; return its length."""
        self._tx[0] = first
        pos = 1
        while True:
            b = remaining & 0x7F
            remaining >>= 7
            self._tx[pos] = b | (0x80 if remaining else 0)
            pos += 1
            if not remaining:
                return pos

    async def _write(self, n: int) -> None:
        """Send ``n`` bytes of tx; the watcher gives up on a broker that does not take them."""
        writer = self._writer
        if writer is None:  # closed meanwhile by the watcher or a failed send
            raise MqttError("connection closed")
        writer.write(self._txv[:n])  # copies what the socket does not take at once
        self._drain_since = time.ticks_ms()
        await writer.drain()
        self._drain_since = -1

    async def _read_into(self, mv: "Any") -> None:
        """Fill the memoryview ``mv`` from the socket (a bytearray slice would be a copy)."""
        pos = 0
        n = len(mv)
        while pos < n:
            reader = self._reader
            if reader is None:  # closed meanwhile by the watcher or a failed send
                raise MqttError("connection closed")
            got = await reader.readinto(mv[pos:])
            if got == 0:
                raise MqttError("broker closed the connection")
            if got:
                pos += got

    async def _read_packet(self) -> "tuple[int, int]":
        """Read one packet: ``(type, length)`` with the body in rx; length -1 = oversized."""
        byte = self._byte
        await self._read_into(self._bytev)
        kind = byte[0] >> 4
        self._flags = byte[0] & 0x0F
        remaining = 0
        shift = 0
        while True:
            await self._read_into(self._bytev)
            remaining |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MqttError("malformed remaining length")
        if remaining <= _BUF_SIZE:
            await self._read_into(self._rxv[:remaining])
            return kind, remaining
        # Oversized: keep the start (topic and packet id), read the rest off in pieces.
        await self._read_into(self._rxv)
        left = remaining - _BUF_SIZE
        while left > 0:
            chunk = min(left, 64)
            await self._read_into(self._rxv[_BUF_SIZE - chunk :])
            left -= chunk
        return kind, -1

    async def _receive(self) -> None:
        kind, n = await self._read_packet()
        self._last_rx = time.ticks_ms()
        rx = self._rx
        if kind == _PUBACK and n == 2:
            self._acked_pid = (rx[0] << 8) | rx[1]
            if self._acked_pid == self._wait_pid:
                self._puback.set()
        elif kind == _PUBLISH:
            qos = (self._flags >> 1) & 3
            if qos > 1:
                raise MqttError("QoS %d PUBLISH on a QoS 1 subscription" % qos)
            tlen = (rx[0] << 8) | rx[1]
            start = 2 + tlen + (2 if qos else 0)
            pid = ((rx[2 + tlen] << 8) | rx[3 + tlen]) if qos else 0
            if n < 0:
                self.on_frame(None)  # oversized: counted as a rejected frame
            elif start <= n and self._rxv[2 : 2 + tlen] == self.down_topic:
                self.on_frame(bytes(self._rxv[start:n]))
            if qos:
                self._tx[0] = _PUBACK << 4
                self._tx[1] = 2
                self._tx[2] = pid >> 8
                self._tx[3] = pid & 0xFF
                await self._write(4)
        elif kind != _PINGRESP:
            raise MqttError("unexpected packet type %d" % kind)

    async def send(self, frame: bytes) -> bool:
        """Publish one frame with QoS 1 to the uplink topic; True once PUBACKed."""
        if not self.up:
            return False
        pid = self._next_pid()
        topic = self.up_topic
        pos = self._head(_PUBLISH << 4 | 0x02, 2 + len(topic) + 2 + len(frame))
        pos = self._put_str(pos, topic)
        self._tx[pos] = pid >> 8
        self._tx[pos + 1] = pid & 0xFF
        pos += 2
        self._tx[pos : pos + len(frame)] = frame
        self._wait_pid = pid
        self._puback.clear()
        try:
            await self._write(pos + len(frame))
            self._puback_since = time.ticks_ms()
            await self._puback.wait()  # set by the PUBACK, or by _close (the watcher's timeout)
        except OSError:
            self._close()
        self._puback_since = -1
        return self.up and self._acked_pid == pid
