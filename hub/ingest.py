"""Verified ingest: uplink frames in, durable events and acks out.

Per frame, in this order (ARCHITECTURE invariants 2 and 3):

1. topic ``trygg/<device-id>/up``; per-device token bucket (a flooding device is dropped at the
   cost of a dict look-up, so it cannot slow the others);
2. ``cose.open_frame`` with the device's key (unknown kid: counted), and the kid must be the
   topic's device id;
3. replay check against the device's window. A sequence number the window has seen is either a
   retransmission after a lost ack -- it is in ``events`` with the same content: ack it again,
   store nothing, count nothing -- or a forgery/replay: counted. The same number with other
   content is a device that reused it (its counter lost): never acked, so the frame stays in
   the device's outbox, and counted as ``seq_reused``, which the rejected-frames rule turns
   into a technical notice. A number too old for the window that was never stored
   (a frame held back in the device's outbox while 64 newer ones got through) is stored late:
   ``events`` has a UNIQUE (device, seq) row for every frame accepted since the last prune, so it
   cannot be acted on twice;
4. decode (schema);
5. group commit: a batch of frames and the devices' new windows in ONE SQLite transaction;
6. only then an ``ack`` frame per device with the ranges just stored (coalesced: one ack frame
   covers up to 8 ranges of a whole batch), sealed with the hub's own persisted sequence counter
   for that device, and published at QoS 1 without waiting for the broker's PUBACK before the
   next batch (see ``_send_ack``).

Frames reach ``on_frame`` straight from the MQTT client's read callback (``service.deliver_to``),
with no task or await per frame; the database work runs on its own thread
(``service.Database``), one transaction and one rules pass per batch.

Rejections are counted per (device, reason) in memory and written with the next batch, never
one write per rejected frame (a flood must not become a write amplifier), and logged at most once
per device and reason and ``rejection_log_interval_s`` (:mod:`trygg.hub.rejection_log`). Every
frame received is accounted for: ``received == stored + resent + rejected`` once ingest is idle
(``counts``; a frame already stored, sent again, is acked again and counted as ``reacked``, not
as a rejection: a lost ack is no attack), and what the broker dropped before the hub saw it is
counted as ``broker_dropped`` (``HubService``), so a flood leaves nothing uncounted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from trygg.protocol import cose, frame, messages
from trygg.protocol import errors as perr
from trygg.protocol.replay import ReplayWindow
from trygg.protocol.sequence import SequenceCounter

from . import crash_points
from .config import IngestConfig
from .rejection_log import RejectionLog
from .rules.model import HUB_REJECTED_FRAMES, HUB_REJECTED_FRAMES_CLEAR
from .store import Device, NewFrame, Store, StoredEvent, event_body

log = logging.getLogger("trygg.hub.ingest")

# Hub-side rejection reasons, next to protocol.errors.REASONS.
BAD_TOPIC = "bad_topic"
TOPIC_MISMATCH = "topic_mismatch"  # kid is not the device id of the topic
SEQ_REUSED = "seq_reused"  # a stored sequence number again, with other content
RATE_LIMITED = "rate_limited"
STORE_FAILED = "store_failed"
# Messages mosquitto dropped before they reached the hub (its queue for the hub full): counted
# with the rejections under device "" (never towards a device's rejected-frames notice).
BROKER_DROPPED = "broker_dropped"
ACK_NOT_SENT = "ack_not_sent"  # log only: the broker was gone when an ack was published
UNKNOWN_DEVICE = ""  # rejections.device_id for topics of no paired device

UP_SUFFIX = "/up"
TOPIC_PREFIX = "trygg/"
# Hub sequence counter: persist a new bound every this many numbers (RFC 8613 App. B.1.1).
HUB_SEQUENCE_STEP = 1024


def up_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}{device_id}{UP_SUFFIX}"


def down_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}{device_id}/down"


def ack_ranges(seqs: list[int]) -> list[list[int]]:
    """Sorted distinct numbers -> inclusive [first, last] ranges."""
    ranges: list[list[int]] = []
    for s in sorted(set(seqs)):
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1][1] = s
        else:
            ranges.append([s, s])
    return ranges


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.stamp = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True


@dataclass
class DeviceLink:
    """What ingest keeps in memory per paired device."""

    device_id: str
    kid: bytes
    key: cose.MacKey
    resident_id: str
    live: ReplayWindow  # includes frames queued for the next commit
    durable: ReplayWindow  # exactly what the database holds
    pruned_seq: int
    bucket: TokenBucket
    counter: SequenceCounter | None = None
    rejected_at: list[float] = field(default_factory=list)
    rejected_alarm: bool = False
    heartbeat_s: float | None = None  # as the device last reported it


@dataclass
class _Item:
    kind: str  # new | dup | late
    device_id: str
    seq: int
    received_at: float
    message: dict[str, Any] | None = None
    reason: str = ""
    payload: bytes = b""  # a dup's, decoded only to compare it with what is stored


@dataclass
class BatchResult:
    stored: list[StoredEvent]
    acks: list[tuple[str, bytes]]  # (topic, frame)
    reacked: int
    # (device, reason, why) per frame rejected in the batch
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    heartbeats: dict[str, float] = field(default_factory=dict)  # intervals that changed


class Ingest:
    """Frame verification (on the event loop) and group commit (on the database thread)."""

    def __init__(self, config: IngestConfig, run_db: Callable[..., Awaitable[Any]],
                 publish: Callable[[str, bytes], Awaitable[None]],
                 on_stored: Callable[[list[StoredEvent]], Awaitable[None]],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._run_db = run_db
        self._publish = publish
        self._on_stored = on_stored
        self._clock = clock
        self.links: dict[str, DeviceLink] = {}
        self._by_kid: dict[bytes, DeviceLink] = {}
        self._pending: list[_Item] = []
        self._wake = asyncio.Event()
        self._acks_in_flight: set[asyncio.Task[None]] = set()
        self._rejections: dict[tuple[str, str], int] = {}
        self.counts: dict[str, int] = {"received": 0, "stored": 0, "reacked": 0, "rejected": 0,
                                       "acks_sent": 0, "batches": 0, "broker_dropped": 0}
        self.rejection_log = RejectionLog(log, config.rejection_log_interval_s, clock)
        self.idle = asyncio.Event()
        self.idle.set()
        # Called (on the event loop) after a batch in which a device reported a new heartbeat
        # interval: the service hands it to device supervision at once.
        self.on_heartbeats: Callable[[], Awaitable[None]] | None = None
        # perf_counter of the first frame received and of the last ack sent (benchmark).
        self.first_frame_at: float | None = None
        self.last_ack_at = 0.0

    # -- devices ------------------------------------------------------------------------------

    def load_devices(self, devices: list[Device]) -> None:
        """(Re)load paired devices; keeps live state of devices that stay."""
        now = self._clock()
        links: dict[str, DeviceLink] = {}
        for d in devices:
            old = self.links.get(d.device_id)
            if old is not None and old.key.key == d.key:
                old.resident_id = d.resident_id
                old.heartbeat_s = d.heartbeat_s
                links[d.device_id] = old
                continue
            links[d.device_id] = DeviceLink(
                d.device_id, bytes.fromhex(d.device_id), cose.MacKey(d.key), d.resident_id,
                d.window(), d.window(), d.pruned_seq,
                TokenBucket(self.config.device_rate_per_s, self.config.device_burst, now),
                heartbeat_s=d.heartbeat_s)
        self.links = links
        self._by_kid = {link.kid: link for link in links.values()}

    def _key_for_kid(self, kid: bytes) -> cose.MacKey | None:
        link = self._by_kid.get(kid)
        return None if link is None else link.key

    # -- frames in ----------------------------------------------------------------------------

    def reject(self, device_id: str, reason: str, now: float, why: str = "") -> None:
        key = (device_id, reason)
        self._rejections[key] = self._rejections.get(key, 0) + 1
        self.counts["rejected"] += 1
        self._note_rejected(device_id, now)
        self.rejection_log.note(device_id, reason, "%s: frame rejected as %s%s",
                                device_id or "unknown device", reason,
                                f" ({why})" if why else "")

    def count_broker_dropped(self, n: int) -> None:
        """Messages the broker dropped before the hub saw them (see HubService)."""
        key = (UNKNOWN_DEVICE, BROKER_DROPPED)
        self._rejections[key] = self._rejections.get(key, 0) + n
        self.counts["broker_dropped"] += n
        self.rejection_log.note("broker", BROKER_DROPPED, "the broker dropped %d messages "
                                "(its queue for the hub was full: a flood, or a hub too slow)",
                                n)

    def _note_rejected(self, device_id: str, now: float) -> None:
        """Remember when a paired device's frame was rejected, for the rejected-frames notice."""
        link = self.links.get(device_id)
        if link is not None:
            link.rejected_at.append(now)
            if len(link.rejected_at) > 4 * self.config.rejected_alarm_count:
                del link.rejected_at[: len(link.rejected_at) // 2]

    def on_frame(self, topic: str, payload: bytes, now: float | None = None) -> None:
        """Verify one uplink frame and queue it for the next commit. Never raises."""
        now = self._clock() if now is None else now
        self.counts["received"] += 1
        if self.first_frame_at is None:
            self.first_frame_at = time.perf_counter()
        if not (topic.startswith(TOPIC_PREFIX) and topic.endswith(UP_SUFFIX)
                and len(topic) == len(TOPIC_PREFIX) + 12 + len(UP_SUFFIX)):
            self.reject(UNKNOWN_DEVICE, BAD_TOPIC, now, f"topic {topic[:80]!r}")
            return
        device_id = topic[len(TOPIC_PREFIX): len(TOPIC_PREFIX) + 12]
        link = self.links.get(device_id)
        if link is None:
            # Unpaired topic: the broker's ACL makes this impossible for devices; counted (one
            # dict update) and logged at a bounded rate all the same.
            self.reject(UNKNOWN_DEVICE, perr.UNKNOWN_KID, now, f"topic {topic!r}")
            return
        if not link.bucket.take(now):
            self.reject(device_id, RATE_LIMITED, now)
            return
        try:
            envelope = cose.open_frame(payload, cose.UP, self._key_for_kid)
        except perr.ProtocolError as exc:
            self.reject(device_id, exc.reason, now, str(exc))
            return
        except Exception:  # defensive: nothing a peer sends may stop ingest
            self._unexpected(device_id, "verifying", now)
            return
        if envelope.kid != link.kid:
            self.reject(device_id, TOPIC_MISMATCH, now)
            return
        seq = envelope.seq
        try:
            link.live.check(seq)
        except perr.ProtocolError as exc:
            # Seen, or too old to tell: the database decides (retransmission or replay).
            if exc.reason == perr.TOO_OLD and seq > link.pruned_seq:
                message = self._decode(device_id, envelope.payload, now)
                if message is not None:
                    self._queue(_Item("late", device_id, seq, now, message, exc.reason))
            else:
                self._queue(_Item("dup", device_id, seq, now, None, exc.reason,
                                  envelope.payload))
            return
        message = self._decode(device_id, envelope.payload, now)
        if message is None:
            return
        link.live.accept(seq)
        self._queue(_Item("new", device_id, seq, now, message))

    def _decode(self, device_id: str, payload: bytes, now: float) -> dict[str, Any] | None:
        try:
            return messages.decode(payload, cose.UP)
        except perr.ProtocolError as exc:
            self.reject(device_id, exc.reason, now, str(exc))
        except Exception:
            self._unexpected(device_id, "decoding", now)
        return None

    def _unexpected(self, device_id: str, doing: str, now: float) -> None:
        """A frame that broke our code rather than a rule: its traceback is logged (once per
        interval, like any rejection: a peer could repeat it), the frame counted as malformed."""
        key = (device_id, perr.MALFORMED)
        self._rejections[key] = self._rejections.get(key, 0) + 1
        self.counts["rejected"] += 1
        self._note_rejected(device_id, now)
        self.rejection_log.note(device_id, "unexpected_error", "unexpected error %s a frame "
                                "from %s (counted as malformed)", doing, device_id,
                                exc_info=True)

    def _queue(self, item: _Item) -> None:
        self._pending.append(item)
        self.idle.clear()
        self._wake.set()

    # -- group commit ---------------------------------------------------------------------------

    async def run_committer(self) -> None:
        """Commit queued frames in batches, ack them, hand them on. Runs until cancelled."""
        try:
            await self._commit_forever()
        finally:
            for task in list(self._acks_in_flight):
                task.cancel()

    async def _commit_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if crash_points.armed("ingest.next_batch"):  # only in durability tests
                    await self.wait_acks_sent()
                    crash_points.crash_point("ingest.next_batch")
                batch = self._pending[: self.config.batch_max]
                del self._pending[: len(batch)]
                rejections, self._rejections = self._rejections, {}
                try:
                    result: BatchResult = await self._run_db(self._commit, batch, rejections)
                except Exception:
                    log.exception("storing a batch of %d frames failed; nothing of it is "
                                  "acked, devices will send it again", len(batch))
                    for item in batch:
                        self.reject(item.device_id, STORE_FAILED, self._clock())
                    for link in self.links.values():
                        link.live = ReplayWindow(*link.durable.state())
                    continue
                self.counts["batches"] += 1
                self.counts["stored"] += len(result.stored)
                self.counts["reacked"] += result.reacked
                now = self._clock()
                self.counts["rejected"] += len(result.rejected)
                for device_id, reason, why in result.rejected:
                    self._note_rejected(device_id, now)
                    self.rejection_log.note(device_id, reason, "%s: frame rejected as %s%s",
                                            device_id, reason, f" ({why})" if why else "")
                for device_id, interval in result.heartbeats.items():
                    known = self.links.get(device_id)
                    if known is not None:
                        known.heartbeat_s = interval
                if result.heartbeats:
                    log.info("heartbeat interval reported: %s", ", ".join(
                        f"{d} {v:g} s" for d, v in sorted(result.heartbeats.items())))
                    if self.on_heartbeats is not None:
                        await self.on_heartbeats()
                for topic, data in result.acks:
                    self._send_ack(topic, data)
                if result.stored:
                    await self._on_stored(result.stored)
            if not self._pending:
                self.idle.set()

    def _send_ack(self, topic: str, data: bytes) -> None:
        """Publish an ack of committed frames; the next batch does not wait for its PUBACK.

        Nothing depends on that PUBACK but the count: a lost ack costs a retransmission, which
        is acked again. Waiting for it would pace ingest at one broker round trip per device
        and batch, and while frames are queued for the hub mosquitto (2.0) sends the PUBACK only
        after delivering all of them: ingest would commit nothing until the queue was drained.
        Tasks start in the order they are made, so a device's acks leave in commit order."""
        task = asyncio.get_running_loop().create_task(self._publish_ack(topic, data))
        self._acks_in_flight.add(task)
        task.add_done_callback(self._acks_in_flight.discard)

    async def wait_acks_sent(self) -> None:
        """Until every ack published so far has its PUBACK (or has failed)."""
        while self._acks_in_flight:
            await asyncio.gather(*self._acks_in_flight, return_exceptions=True)

    async def _publish_ack(self, topic: str, data: bytes) -> None:
        try:
            await self._publish(topic, data)
        except Exception as exc:  # broker gone: the device retransmits and is acked again
            # Every ack in flight fails at once when the connection drops: bounded as well.
            self.rejection_log.note(topic, ACK_NOT_SENT, "ack on %s not sent: %s", topic, exc)
            return
        self.counts["acks_sent"] += 1
        self.last_ack_at = time.perf_counter()

    def _commit(self, store: Store, batch: list[_Item],
                rejections: dict[tuple[str, str], int]) -> BatchResult:
        """On the database thread: store, then seal acks (after the commit). Every item ends
        up stored, acked again (``reacked``) or rejected: nothing is dropped."""
        frames: list[NewFrame] = []
        windows: dict[str, ReplayWindow] = {}
        ack: dict[str, list[int]] = {}
        in_batch: dict[tuple[str, int], dict[str, Any]] = {}
        resent: dict[tuple[str, int], int] = {}  # same frame again within the batch: how often
        reacked = 0
        now = self._clock()

        rejected: list[tuple[str, str, str]] = []

        def count(device_id: str, reason: str, n: int = 1, why: str = "") -> None:
            rejections[(device_id, reason)] = rejections.get((device_id, reason), 0) + n
            rejected.extend([(device_id, reason, why)] * n)

        def seq_reused(device_id: str, seq: int, n: int = 1) -> None:
            count(device_id, SEQ_REUSED, n, f"sequence number {seq} again with other content: "
                  "not acked; has its sequence counter been lost? re-provision it")

        for item in batch:
            link = self.links.get(item.device_id)
            if link is None:  # unpaired since it was verified
                count(item.device_id, perr.UNKNOWN_KID, why="unpaired meanwhile")
                continue
            key = (item.device_id, item.seq)
            if item.kind == "new":
                w = windows.get(item.device_id)
                if w is None:
                    w = windows[item.device_id] = ReplayWindow(*link.durable.state())
                if not w.seen(item.seq):
                    w.accept(item.seq)
                    assert item.message is not None
                    frames.append(NewFrame(item.device_id, item.seq, item.received_at,
                                           item.message))
                    in_batch[key] = item.message
                    continue
                # Seen already (the live window was reset after a failed commit): decided as
                # any frame seen before, below.
            earlier = in_batch.get(key)
            if earlier is not None:  # decided with that one, once it is stored (below)
                if self._same_content(item, event_body(earlier)):
                    resent[key] = resent.get(key, 0) + 1
                else:
                    seq_reused(item.device_id, item.seq)
                continue
            body = store.stored_body(item.device_id, item.seq)
            if body is not None:
                if self._same_content(item, body):
                    ack.setdefault(item.device_id, []).append(item.seq)  # lost ack: again
                    reacked += 1
                else:
                    seq_reused(item.device_id, item.seq)
            elif item.kind == "late":
                assert item.message is not None
                frames.append(NewFrame(item.device_id, item.seq, item.received_at, item.message))
                in_batch[key] = item.message
            else:
                count(item.device_id, item.reason)
        resident_of = {d: link.resident_id for d, link in self.links.items()}
        stored = store.store_frames(frames, {d: w.state() for d, w in windows.items()},
                                    resident_of)
        # Acks for what is now in the database. A frame not stored was there already (its
        # window lost, or the device's counter): acked again only if it is the same frame.
        done = {(e.device_id, e.seq) for e in stored}
        for f in frames:
            key = (f.device_id, f.seq)
            again = resent.get(key, 0)
            if key not in done:
                if store.stored_body(f.device_id, f.seq) != event_body(f.message):
                    seq_reused(f.device_id, f.seq, 1 + again)
                    continue
                again += 1
            reacked += again
            ack.setdefault(f.device_id, []).append(f.seq)
        # Committed: the durable windows may move on.
        for device_id, w in windows.items():
            link = self.links.get(device_id)
            if link is not None:
                link.durable = w
        heartbeats = self._learn_heartbeats(store, stored)
        if rejections:
            try:
                store.add_rejections(rejections, now)
            except Exception:
                log.exception("rejection counters not written")
        acks: list[tuple[str, bytes]] = []
        for device_id, seqs in ack.items():
            link = self.links.get(device_id)
            if link is None:
                continue
            ranges = ack_ranges(seqs)
            step = messages.MAX_ACK_RANGES
            for i in range(0, len(ranges), step):
                msg = {"type": "ack", "ranges": ranges[i: i + step]}
                acks.append((down_topic(device_id), self.seal_down(store, link, msg)))
        return BatchResult(stored, acks, reacked, rejected, heartbeats)

    def _learn_heartbeats(self, store: Store, stored: list[StoredEvent]) -> dict[str, float]:
        """Heartbeat intervals the devices report (hello and heartbeat carry it; a device's
        interval can change with set_config), written to the device's row when they change, so
        device supervision waits for the device's own interval rather than the default."""
        learned: dict[str, float] = {}
        for e in stored:
            interval = e.body.get("heartbeat_s") if e.type in ("hello", "heartbeat") else None
            if isinstance(interval, int) and e.device_id is not None:
                learned[e.device_id] = float(interval)
        changed: dict[str, float] = {}
        for device_id, interval in learned.items():
            link = self.links.get(device_id)
            if link is not None and link.heartbeat_s != interval:
                store.set_device_heartbeat(device_id, interval)
                changed[device_id] = interval
        return changed

    @staticmethod
    def _same_content(item: _Item, body: str) -> bool:
        """Whether a frame seen before carries what was stored under its sequence number."""
        message = item.message
        if message is None:
            try:
                message = messages.decode(item.payload, cose.UP)
            except Exception:  # it verified, so its device sealed it: not what was stored
                return False
        return event_body(message) == body

    def seal_down(self, store: Store, link: DeviceLink, msg: dict[str, Any]) -> bytes:
        """Seal a hub -> device message with the hub's persisted sequence counter (database
        thread only: the counter's bound is written before a number is used)."""
        if link.counter is None:
            link.counter = SequenceCounter(store.sequence_storage(link.device_id),
                                           step=HUB_SEQUENCE_STEP)
            link.counter.boot()
        return frame.seal(msg, link.key, link.kid, link.counter.next())

    # -- supervision of rejections ------------------------------------------------------------

    def rejection_events(self, now: float) -> list[tuple[str, str]]:
        """(hub event name, device id) for devices whose rejections crossed the threshold in the
        window, or that had none for a whole window after an alarm."""
        out: list[tuple[str, str]] = []
        window = self.config.rejected_window_s
        for link in self.links.values():
            recent = [t for t in link.rejected_at if t > now - window]
            link.rejected_at = recent
            if not link.rejected_alarm and len(recent) >= self.config.rejected_alarm_count:
                link.rejected_alarm = True
                out.append((HUB_REJECTED_FRAMES, link.device_id))
            elif link.rejected_alarm and not recent:
                link.rejected_alarm = False
                out.append((HUB_REJECTED_FRAMES_CLEAR, link.device_id))
        return out

    def take_rejections(self) -> dict[tuple[str, str], int]:
        """The counters gathered since the last batch, handed over for writing (on the event
        loop, which is where they are counted: no increment can fall between the two)."""
        rejections, self._rejections = self._rejections, {}
        return rejections

    def give_back_rejections(self, rejections: dict[tuple[str, str], int]) -> None:
        """Counters that could not be written: counted again with the next ones."""
        for key, n in rejections.items():
            self._rejections[key] = self._rejections.get(key, 0) + n

    def flush_rejections(self, store: Store) -> None:
        """Write the counters gathered since the last batch (single-threaded callers)."""
        store.add_rejections(self.take_rejections(), self._clock())
