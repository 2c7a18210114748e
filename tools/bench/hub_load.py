"""The load for ``trygg bench hub``, in a process of its own so it never shares an interpreter
with the receiver it measures.

Frames are sealed beforehand by the benchmark (protocol cost is the devices', not the load's) and
read from a JSON file; here one paho-mqtt connection publishes them at QoS 1 in a tight loop (or
paced at a given rate) and a second one verifies each ack the hub sends (MAC, direction, replay)
as a device would, recording when each sequence number was acked.

Protocol with the parent: prints ``ready`` once both connections are up, waits for a line on
stdin, publishes, prints a JSON line once the broker has taken every frame (PUBACK), then
(waiting for the acks first if asked to) a JSON line of results, and exits.

Run as ``python -m trygg.tools.bench.hub_load FRAMES.json PORT WAIT_ACKS RATE``.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from trygg.protocol import cose, frame
from trygg.protocol.errors import ProtocolError
from trygg.protocol.replay import ReplayWindow

# QoS 1 messages the publisher may have in flight: paho's default of 20 would make the load
# wait on PUBACK round trips, which is what this generator exists to avoid.
MAX_INFLIGHT = 1000
WAIT_S = 300.0


def write_frames(path: Path, keys: dict[str, bytes],
                 frames: list[tuple[str, int, bytes]]) -> None:
    """The file this process reads: device keys (to verify acks) and (device, seq, frame)."""
    path.write_text(json.dumps({"keys": {d: k.hex() for d, k in keys.items()},
                                "frames": [[d, s, f.hex()] for d, s, f in frames]}))


class AckListener:
    """Verifies the hub's acks like a device and notes when each frame was first acked."""

    def __init__(self, keys: dict[str, bytes], expected: int) -> None:
        self._keys = {bytes.fromhex(d): cose.MacKey(k) for d, k in keys.items()}
        self._windows = {kid: ReplayWindow() for kid in self._keys}
        self.acked_at: dict[tuple[str, int], float] = {}
        self.rejected = 0
        self.expected = expected
        self.done = threading.Event()

    def on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        try:
            envelope, msg = frame.open_message(bytes(message.payload), cose.DOWN, self._keys.get,
                                               self._windows.get)
        except ProtocolError:
            self.rejected += 1
            return
        self._windows[envelope.kid].accept(envelope.seq)
        if msg["type"] != "ack":
            return
        device = envelope.kid.hex()
        for first, last in msg["ranges"]:
            for seq in range(first, last + 1):
                self.acked_at.setdefault((device, seq), now)
        if len(self.acked_at) >= self.expected:
            self.done.set()


def _client(name: str, port: int) -> tuple[mqtt.Client, threading.Event]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name,
                         protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(MAX_INFLIGHT)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, connected


def run(frames_path: Path, port: int, wait_acks: bool, rate: float) -> dict[str, Any]:
    data = json.loads(frames_path.read_text())
    keys = {d: bytes.fromhex(k) for d, k in data["keys"].items()}
    frames = [(f"trygg/{d}/up", d, int(s), bytes.fromhex(f)) for d, s, f in data["frames"]]
    total = len(frames)
    listener = AckListener(keys, total)
    subscribed = threading.Event()
    acks, acks_connected = _client("bench-load-acks", port)
    acks.on_message = listener.on_message
    acks.on_subscribe = lambda *_args: subscribed.set()
    publisher, pub_connected = _client("bench-load", port)
    pubacked = [0]
    all_pubacked = threading.Event()

    def on_publish(*_args: Any) -> None:
        pubacked[0] += 1
        if pubacked[0] == total:
            all_pubacked.set()

    publisher.on_publish = on_publish
    try:
        if not (acks_connected.wait(30) and pub_connected.wait(30)):
            raise RuntimeError("bench load: no connection to the broker")
        acks.subscribe("trygg/+/down", qos=1)
        if not subscribed.wait(30):
            raise RuntimeError("bench load: subscription not confirmed")
        print("ready", flush=True)
        sys.stdin.readline()
        sent_at: dict[tuple[str, int], float] = {}
        t0 = time.perf_counter()
        for i, (topic, device, seq, payload) in enumerate(frames):
            if rate:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sent_at[(device, seq)] = time.perf_counter()
            publisher.publish(topic, payload, qos=1)
        if not all_pubacked.wait(WAIT_S):
            raise RuntimeError("bench load: the broker did not take every frame")
        offered_s = time.perf_counter() - t0
        print(json.dumps({"published": total, "offered_per_s": total / offered_s}),
              flush=True)
        if wait_acks and not listener.done.wait(WAIT_S):
            raise RuntimeError(f"bench load: {len(listener.acked_at)} of {total} acked")
    finally:
        for client in (publisher, acks):
            client.disconnect()
            client.loop_stop()
    latency = sorted(listener.acked_at[k] - sent_at[k] for k in listener.acked_at
                     if k in sent_at)
    out: dict[str, Any] = {"frames": total, "offered_per_s": total / offered_s,
                           "acked": len(latency), "rejected_acks": listener.rejected}
    if latency:
        out.update(p50=statistics.median(latency), p99=latency[int(0.99 * (len(latency) - 1))])
    return out


def main(argv: list[str]) -> int:
    frames_path, port, wait_acks, rate = argv
    print(json.dumps(run(Path(frames_path), int(port), wait_acks == "1", float(rate))),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
