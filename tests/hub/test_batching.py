"""Ingest's group commit on its own: frames in through ``Ingest.on_frame``, a real SQLite store,
and a stand-in for the broker that records each ack together with what the database held at
the moment it was published. No broker and no clock: what is proved is order and durability,
never speed (tests/hub/test_ingest.py runs the same path over a real mosquitto).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from support.hub import DEV_A, DEV_B, KEY_A, KEY_B, WAIT_S
from trygg.hub.config import IngestConfig
from trygg.hub.ingest import BAD_TOPIC, SEQ_REUSED, STORE_FAILED, Ingest, down_topic, up_topic
from trygg.hub.service import deliver_to
from trygg.hub.store import Store, StoredEvent
from trygg.protocol import cose, frame
from trygg.protocol import errors as perr
from trygg.protocol.replay import ReplayWindow

KEYS = {DEV_A: KEY_A, DEV_B: KEY_B}


def seal(device_id: str, seq: int, key: bytes | None = None, uptime: int | None = None) -> bytes:
    msg = {"type": "event", "uptime": seq if uptime is None else uptime, "event": "motion"}
    return frame.seal(msg, cose.MacKey(key or KEYS[device_id]), bytes.fromhex(device_id), seq)


class Hub:
    """An ``Ingest`` on a store in ``tmp_path``; its database work runs inline, its acks are
    recorded with the (device, seq) pairs stored when each was published."""

    def __init__(self, tmp_path: Path, batch_max: int = 256) -> None:
        self.store = Store(tmp_path / "hub.db")
        for device_id, key in KEYS.items():
            self.store.add_device(device_id, key, "motion", "hall", "r1")
        self.fail_commits = 0
        self.acks: list[tuple[str, list[list[int]], set[tuple[str, int]]]] = []
        self.handed_on: list[StoredEvent] = []
        self.release_pubacks: asyncio.Event | None = None
        self.ingest = Ingest(IngestConfig(batch_max=batch_max, device_rate_per_s=1e4,
                                          device_burst=10_000),
                             self.run_db, self.publish, self.on_stored)
        self.ingest.load_devices(self.store.devices())
        self._keys = {bytes.fromhex(d): cose.MacKey(k) for d, k in KEYS.items()}

    async def run_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.fail_commits and fn == self.ingest._commit:
            self.fail_commits -= 1
            raise OSError("disk full")
        return fn(self.store, *args)

    async def publish(self, topic: str, data: bytes) -> None:
        _envelope, msg = frame.open_message(data, cose.DOWN, self._keys.get)
        self.acks.append((topic, msg["ranges"], self.stored()))
        if self.release_pubacks is not None:  # a broker sitting on its PUBACKs
            await self.release_pubacks.wait()

    async def on_stored(self, events: list[StoredEvent]) -> None:
        self.handed_on += events

    def stored(self) -> set[tuple[str, int]]:
        return {(e.device_id or "", e.seq or 0) for e in self.store.events()}

    def acked(self, device_id: str) -> list[int]:
        return [seq for topic, ranges, _ in self.acks if topic == down_topic(device_id)
                for first, last in ranges for seq in range(first, last + 1)]

    async def settle(self) -> None:
        """Until the committer has nothing queued and every ack has been published."""
        async with asyncio.timeout(WAIT_S):
            await self.ingest.idle.wait()
            await self.ingest.wait_acks_sent()


@pytest.fixture
async def hub(tmp_path: Path) -> Any:
    h = Hub(tmp_path)
    committer = asyncio.create_task(h.ingest.run_committer())
    yield h
    committer.cancel()
    await asyncio.gather(committer, return_exceptions=True)
    h.store.close()


async def test_a_batch_is_stored_in_arrival_order_and_acked_only_once_committed(
        hub: Hub) -> None:
    arrivals = [(device_id, seq) for seq in range(40) for device_id in (DEV_A, DEV_B)]
    for device_id, seq in arrivals:
        hub.ingest.on_frame(up_topic(device_id), seal(device_id, seq))
    await hub.settle()

    assert hub.ingest.counts["batches"] == 1  # everything queued before the commit: one batch
    assert [(e.device_id, e.seq) for e in hub.store.events()] == arrivals
    assert [(e.device_id, e.seq) for e in hub.handed_on] == arrivals  # the rules, in order
    for topic, ranges, stored_then in hub.acks:
        device_id = topic.split("/")[1]
        for first, last in ranges:
            assert {(device_id, s) for s in range(first, last + 1)} <= stored_then
    assert hub.acked(DEV_A) == hub.acked(DEV_B) == list(range(40))
    device = hub.store.device(DEV_A)
    assert device is not None
    assert device.replay_highest == 39


async def test_bad_frames_in_the_middle_of_a_batch_are_counted_and_the_good_ones_stored(
        hub: Hub) -> None:
    forged = seal(DEV_A, 2, key=bytes(32))
    hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, 0))
    hub.ingest.on_frame(up_topic(DEV_B), seal(DEV_B, 0))
    hub.ingest.on_frame(up_topic(DEV_A), forged)
    hub.ingest.on_frame(up_topic(DEV_A), b"junk")
    hub.ingest.on_frame("trygg/nonsense", seal(DEV_A, 3))
    hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, 0))  # retransmission, not yet acked
    hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, 1))
    hub.ingest.on_frame(up_topic(DEV_B), seal(DEV_B, 1))
    await hub.settle()

    assert [(e.device_id, e.seq) for e in hub.store.events()] == [
        (DEV_A, 0), (DEV_B, 0), (DEV_A, 1), (DEV_B, 1)]
    assert sorted(set(hub.acked(DEV_A))) == [0, 1]
    assert sorted(set(hub.acked(DEV_B))) == [0, 1]
    hub.ingest.flush_rejections(hub.store)
    assert {(r["device_id"], r["reason"]): r["count"] for r in hub.store.rejections()} == {
        (DEV_A, perr.BAD_MAC): 1, (DEV_A, perr.MALFORMED): 1, ("", BAD_TOPIC): 1}


async def test_a_failed_commit_acks_nothing_and_the_resent_frames_are_stored_later(
        hub: Hub) -> None:
    hub.fail_commits = 1
    for seq in range(3):
        hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, seq))
    await hub.settle()
    assert hub.acks == []
    assert hub.stored() == set()
    assert hub.ingest.counts["rejected"] == 3

    for seq in range(3):  # the device sends them again when no ack comes
        hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, seq))
    await hub.settle()
    assert hub.acked(DEV_A) == [0, 1, 2]
    assert [e.seq for e in hub.store.events()] == [0, 1, 2]
    hub.ingest.flush_rejections(hub.store)
    assert [(r["reason"], r["count"]) for r in hub.store.rejections()] == [(STORE_FAILED, 3)]


async def test_a_sequence_number_reused_with_other_content_is_never_acked(hub: Hub) -> None:
    """A device that lost its counter sends numbers the hub has stored, with other content.
    Acking them would lose those events (the device drops what is acked), so they are not
    acked and are counted; a true retransmission of the stored frame is still acked again."""
    up = up_topic(DEV_A)
    hub.ingest.on_frame(up, seal(DEV_A, 5))
    await hub.settle()
    hub.ingest.on_frame(up, seal(DEV_A, 5, uptime=900))  # the window has seen 5
    hub.ingest.on_frame(up, seal(DEV_A, 5))  # the ack was lost: the same frame again
    await hub.settle()
    assert hub.acked(DEV_A) == [5, 5]

    # The window lost too (as if the id were paired anew with its events kept): the frame
    # looks new, and the database tells. Its repeat in the same batch is not acked either,
    # while a new number and its repeat in one batch are acked once they are stored.
    hub.ingest.links[DEV_A].live = ReplayWindow()
    hub.ingest.links[DEV_A].durable = ReplayWindow()
    for seq, uptime in ((5, 901), (5, 901), (6, 6), (6, 6)):
        hub.ingest.on_frame(up, seal(DEV_A, seq, uptime=uptime))
    await hub.settle()
    assert hub.acked(DEV_A) == [5, 5, 6]
    assert [(e.seq, e.body["uptime"]) for e in hub.store.events()] == [(5, 5), (6, 6)]
    hub.ingest.flush_rejections(hub.store)
    assert {(r["device_id"], r["reason"]): r["count"] for r in hub.store.rejections()} == {
        (DEV_A, SEQ_REUSED): 3}
    assert len(hub.ingest.links[DEV_A].rejected_at) == 3  # towards the rejected-frames notice


async def test_commits_go_on_while_the_broker_has_not_answered_earlier_acks(hub: Hub) -> None:
    hub.release_pubacks = asyncio.Event()
    hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, 0))
    async with asyncio.timeout(WAIT_S):
        await hub.ingest.idle.wait()
    hub.ingest.on_frame(up_topic(DEV_A), seal(DEV_A, 1))
    async with asyncio.timeout(WAIT_S):
        await hub.ingest.idle.wait()

    assert [e.seq for e in hub.store.events()] == [0, 1]
    assert hub.ingest.counts["acks_sent"] == 0  # no PUBACK yet for either ack
    hub.release_pubacks.set()
    await hub.settle()
    assert hub.acked(DEV_A) == [0, 1]  # published in commit order
    assert hub.ingest.counts["acks_sent"] == 2


async def test_the_mqtt_queue_hands_each_message_to_ingest_and_keeps_none() -> None:
    seen: list[tuple[str, bytes]] = []
    queue = deliver_to(lambda topic, payload: seen.append((topic, payload)))()
    queue.put_nowait(aiomqtt.Message(up_topic(DEV_A), b"frame", 1, False, 1, None))
    queue.put_nowait(aiomqtt.Message(up_topic(DEV_B), b"", 1, False, 2, None))
    assert seen == [(up_topic(DEV_A), b"frame"), (up_topic(DEV_B), b"")]
    assert queue.empty()


def test_store_frames_skips_what_is_stored_and_returns_the_rows_with_their_ids(
        tmp_path: Path) -> None:
    from trygg.hub.store import NewFrame

    store = Store(tmp_path / "hub.db")
    try:
        store.add_device(DEV_A, KEY_A, "motion", "hall", "r1")

        def frames(*seqs: int) -> list[NewFrame]:
            return [NewFrame(DEV_A, s, 1000.0 + s, {"type": "event", "uptime": s,
                                                    "event": "motion"}) for s in seqs]

        store.store_frames(frames(0, 1), {DEV_A: (1, 3)}, {DEV_A: "r1"})
        returned = store.store_frames(frames(2, 1, 3), {DEV_A: (3, 15)}, {DEV_A: "r1"})
        assert [e.seq for e in returned] == [2, 3]
        assert [(e.id, e.seq, e.body) for e in returned] == [
            (e.id, e.seq, e.body) for e in store.events() if e.seq in (2, 3)]
        assert [e.seq for e in store.events()] == [0, 1, 2, 3]
    finally:
        store.close()
