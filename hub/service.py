"""``trygg hub run``: the asyncio service that ties ingest, store, rules, commands, ARC and
discovery together.

All SQLite work runs on one worker thread (:class:`Database`): the event loop keeps receiving
and verifying frames while a batch commits and fsyncs, which is what makes group commit work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiomqtt

from . import instance_lock
from .alarms import AlarmDesk, AlarmSink
from .bridge import BridgeLink
from .broker import BROKER_DROPPED_TOPIC, DEVICES_CHANGED_TOPIC
from .commands import CommandSender
from .config import HubConfig
from .discovery import Advertiser
from .ingest import Ingest
from .pairing import hub_password
from .roles import RoleError, describe
from .rules.model import HUB_BROKER_BACK, HUB_BROKER_LOST
from .store import Store, StoredEvent

log = logging.getLogger("trygg.hub")

T = TypeVar("T")
UPLINKS = "trygg/+/up"
# QoS 1 publishes (acks, commands) on their way before paho holds further ones back; paho's
# default is 20. While the broker has frames queued for the hub, mosquitto (2.0) answers the
# hub's publishes only after delivering them all, so with 20 a device would get no ack until
# the hub had drained the whole queue.
ACKS_IN_FLIGHT = 1000
# aiomqtt warns when more publishes than this wait for their PUBACK (its default: 10).
PENDING_PUBLISH_WARNING = ACKS_IN_FLIGHT
# While the broker stays away the same way, the log says so again this often (not at every
# reconnection attempt: at 2 s that is 43,000 lines a day on the SD card).
BROKER_REMINDER_S = 300.0


def broker_problem(exc: BaseException, host: str, port: int, config_source: str) -> str:
    """What a failed or lost broker connection means, and what to do about it."""
    text = str(exc)
    low = text.lower()
    if "authori" in low or "user name or password" in low:
        return (f"the broker at {host}:{port} refuses the hub's login ({text}): [mqtt] "
                "password_file is not the password the broker has. Run `trygg hub broker "
                f"--config {config_source}` and, if it says so, restart mosquitto")
    if "refused" in low:
        return (f"nothing answers at {host}:{port} ({text}): is mosquitto running? "
                "(sudo systemctl status mosquitto; start it with sudo systemctl start "
                f"mosquitto; `trygg hub doctor --config {config_source}` checks the rest)")
    if "name or service" in low or "temporary failure in name resolution" in low:
        return f"[mqtt] host {host!r} does not resolve ({text}): correct it"
    return f"no connection to the broker at {host}:{port} ({text})"


def deliver_to(on_message: Callable[[str, bytes], None]
               ) -> type[asyncio.Queue[aiomqtt.Message]]:
    """An aiomqtt ``queue_type`` that hands each message to ``on_message`` as it is read.

    aiomqtt puts each message it reads into this queue, and ``async for message in
    client.messages`` would take it out again with a task and an ``asyncio.wait`` of its own:
    about a quarter of a bare subscriber's time per message (``trygg bench hub``).
    ``HubService.on_message`` hands uplinks to ``Ingest.on_frame``, which only verifies a frame
    and queues it for the next commit; it never blocks and never raises, so it can run where the
    message would have been queued. Were a later aiomqtt to queue messages some other way, they
    would still arrive through ``client.messages``, which the service reads as well."""

    class IngestQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            payload = item.payload
            on_message(item.topic.value, payload if isinstance(payload, bytes) else b"")

    return IngestQueue


class Database:
    """The store on its own thread: ``await db.run(fn, *args)`` calls ``fn(store, *args)``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trygg-db")
        self.store: Store | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.store = await loop.run_in_executor(
            self._executor, lambda: Store(self.path, check_same_thread=False))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        store = self.store
        if store is None:
            raise RuntimeError("database not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(store, *args))

    async def close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, store.close)
        self._executor.shutdown(wait=True)


class HubService:
    def __init__(self, config: HubConfig, *, arc: AlarmSink | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.db = Database(config.database)
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.ingest = Ingest(config.ingest, self.db.run, self.publish, self._on_stored, clock)
        self.ingest.on_heartbeats = self.reload_devices
        self.desk = AlarmDesk(config, self.db.run, arc, clock)
        self.commands = CommandSender(config, self.db.run, self.ingest, self.publish, clock)
        self.desk.queue_command = self.commands.queue
        self.desk.prompter = self.commands.queue  # a local check's prompt to the devices
        self._device_stamp: tuple[Any, ...] = ()
        self._reloads: set[asyncio.Task[None]] = set()
        self._broker_dropped: int | None = None  # the broker's count when last read
        # The ESP-NOW bridge on a USB port ([bridge] port), if the home has battery devices.
        self.bridge = BridgeLink(config.bridge, self.ingest, clock) if config.bridge.port \
            else None
        if self.bridge is not None:
            self.bridge.on_wake = self.commands.device_woke
        # device id -> key, to log what pairing changed; None until the first load
        self._paired: dict[str, bytes] | None = None

    def on_message(self, topic: str, payload: bytes) -> None:
        """Every message the hub's subscriptions bring; uplinks go straight to ingest."""
        if topic.startswith("trygg/"):
            self.ingest.on_frame(topic, payload)
        elif topic == DEVICES_CHANGED_TOPIC:
            # Pairing, unpairing or re-keying just changed the database: new keys reach ingest
            # now rather than at the next tick (a device logs in within seconds).
            self._reload_soon()
        elif topic == BROKER_DROPPED_TOPIC:
            self._count_broker_drops(payload)

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_logged())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload_logged(self) -> None:
        try:
            await self.reload_devices()
        except Exception:
            log.exception("reloading the paired devices failed (the next tick tries again)")

    def _count_broker_drops(self, payload: bytes) -> None:
        """mosquitto's running count of messages it dropped (its queue for a client full, or
        QoS 0 messages for a client busy with others): the increments are counted as
        rejections, so frames a flood cost never go uncounted. Broker-wide: a device's
        downlink dropped while it was away counts as well."""
        try:
            total = int(payload.decode("ascii", "replace").strip())
        except ValueError:
            return
        last, self._broker_dropped = self._broker_dropped, total
        if last is not None and total > last:
            self.ingest.count_broker_dropped(total - last)

    async def publish(self, topic: str, payload: bytes) -> None:
        bridge = self.bridge
        if bridge is not None and bridge.carries(topic[6:18]):  # trygg/<device id>/down
            bridge.send(topic[6:18], payload)
            return
        client = self._client
        if client is None:
            raise ConnectionError("not connected to the broker")
        await client.publish(topic, payload, qos=1)

    async def _on_stored(self, events: list[StoredEvent]) -> None:
        for ev in events:
            if ev.type == "hello":  # a device (re)started: rare, and what a technician looks for
                body = ev.body
                log.info("hello from %s: %s firmware %s on %s, %s-powered, reset %s, "
                         "heartbeat %s s", ev.device_id, body.get("role"), body.get("firmware"),
                         body.get("board"), body.get("power", "?"), body.get("reset"),
                         body.get("heartbeat_s", "?"))
        await self.desk.on_events(events)
        await self.commands.on_events(events)

    async def reload_devices(self) -> None:
        devices = await self.db.run(lambda s: s.devices())
        stamp = tuple((d.device_id, d.key, d.resident_id, d.room, d.role, d.zone,
                       d.heartbeat_s, d.power) for d in devices)
        if stamp != self._device_stamp or self._paired is None:
            self._device_stamp = stamp
            self.ingest.load_devices(devices)
            self.desk.set_devices(devices)
            if self.bridge is not None:
                self.bridge.espnow = {d.device_id for d in devices if _talks_espnow(d.role)}
            self._log_pairing({d.device_id: d for d in devices})

    def _log_pairing(self, devices: dict[str, Any]) -> None:
        before = self._paired
        self._paired = {device_id: d.key for device_id, d in devices.items()}
        if before is None:
            log.info("%d paired device(s)", len(devices))
            return
        for device_id, d in devices.items():
            old = before.get(device_id)
            if old is None:
                log.info("paired %s: %s in %s, zone %d; its frames are accepted now", device_id,
                         d.role, d.room or "-", d.zone)
            elif old != d.key:
                log.info("re-keyed %s (%s in %s, zone %d): frames under the old key are "
                         "rejected from now on", device_id, d.role, d.room or "-", d.zone)
        for device_id in set(before) - set(devices):
            log.info("unpaired %s: its frames are rejected from now on", device_id)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        with instance_lock.hold(self.config.database):
            await self._run(ready)

    async def _run(self, ready: asyncio.Event | None) -> None:
        await self.db.open()
        if self.config.demo_profile:
            log.warning("%s: demo_profile is on: alarm thresholds may be seconds long; this "
                        "configuration is for the simulated-home demo, never a real home",
                        self.config.source)
        try:
            async with contextlib.AsyncExitStack() as stack:
                arc_cfg = self.config.arc_config() if self.desk.sink is None else None
                if arc_cfg is not None:
                    # Before the rebuild: alarms stored but not yet forwarded are handed over
                    # again at start, and the forwarder de-duplicates them.
                    from .arc import ArcForwarder

                    self.desk.sink = await stack.enter_async_context(ArcForwarder(
                        arc_cfg, self.config.arc_outbox_path,
                        on_delivery=self.desk.on_delivery))
                elif self.desk.sink is None:
                    log.warning("%s: no [arc] section: alarms are stored but not forwarded",
                                self.config.source)
                await self.reload_devices()
                await self.desk.rebuild()
                password = (hub_password(self.config) if self.config.mqtt.password_file
                            else None)
                if self.config.discovery.enabled:
                    try:
                        await stack.enter_async_context(Advertiser(
                            self.config.hub_id, self.config.mqtt.port,
                            self.config.discovery.interfaces))
                    except Exception as exc:  # no multicast: the hub still works
                        log.warning("zeroconf advertisement failed: %s", exc)
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._mqtt(password, ready))
                    tasks.create_task(self.ingest.run_committer())
                    tasks.create_task(self.commands.run())
                    tasks.create_task(self._ticker())
                    tasks.create_task(self._pruner())
                    if self.bridge is not None:
                        tasks.create_task(self.bridge.run())
        finally:
            await self.desk.wait_idle()
            await self.db.close()

    async def _mqtt(self, password: str | None, ready: asyncio.Event | None) -> None:
        mqtt = self.config.mqtt
        lost_since = time.monotonic()  # not connected yet: as good as lost
        told_centre = False  # HUB_BROKER_LOST stored for this outage
        last_problem, said_at = "", 0.0
        while True:
            try:
                client = aiomqtt.Client(
                    mqtt.host, mqtt.port, username=mqtt.username if password else None,
                    password=password, identifier=f"trygg-hub-{self.config.hub_id}",
                    clean_session=False, keepalive=mqtt.keepalive_s,
                    queue_type=deliver_to(self.on_message),
                    max_inflight_messages=ACKS_IN_FLIGHT)
                # Acks are not awaited one by one (Ingest._send_ack): in a burst hundreds may
                # wait for their PUBACK at once.
                client.pending_calls_threshold = PENDING_PUBLISH_WARNING
                # Before connecting: the broker hands over the session's queued frames right
                # after CONNACK, and their acks must find the client.
                self._client = client
                async with client:
                    if last_problem:
                        log.warning("connected to the broker at %s:%d again after %.0f s",
                                    mqtt.host, mqtt.port, time.monotonic() - lost_since)
                    last_problem = ""
                    if told_centre:
                        told_centre = not await self._broker_event(HUB_BROKER_BACK, "")
                    # Devices paired while the hub was away from the broker log in now.
                    await self.reload_devices()
                    await client.subscribe(UPLINKS, qos=1)
                    # Refused (and harmless) on a broker without Trygg's ACLs.
                    await client.subscribe(DEVICES_CHANGED_TOPIC, qos=1)
                    await client.subscribe(BROKER_DROPPED_TOPIC, qos=0)
                    self.connected.set()
                    log.info("connected to the broker at %s:%d", mqtt.host, mqtt.port)
                    if ready is not None:
                        ready.set()
                    # Normally empty (deliver_to); ends with MqttError when the connection does.
                    on_message = self.on_message
                    async for message in client.messages:
                        payload: Any = message.payload
                        on_message(message.topic.value,
                                   payload if isinstance(payload, bytes) else b"")
            except aiomqtt.MqttError as exc:
                now = time.monotonic()
                if self.connected.is_set():
                    lost_since = now
                problem = broker_problem(exc, mqtt.host, mqtt.port, self.config.source)
                if problem != last_problem or now - said_at >= BROKER_REMINDER_S:
                    log.warning("%s%s; trying again every %g s", problem,
                                f" (for {now - lost_since:.0f} s)" if problem == last_problem
                                else "", mqtt.reconnect_s)
                    last_problem, said_at = problem, now
                if not told_centre and now - lost_since >= mqtt.broker_lost_alarm_s:
                    told_centre = await self._broker_event(HUB_BROKER_LOST, problem)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(mqtt.reconnect_s)

    async def _broker_event(self, name: str, why: str) -> bool:
        """Store the hub event that tells the rules (and so the centre) that no sensor is
        heard, or heard again; the next tick acts on it. False when it could not be stored."""
        now = self.clock()
        try:
            await self.db.run(lambda s: s.add_hub_event(name, now, None,
                                                        detail={"why": why} if why else None))
        except Exception:
            log.exception("storing %s failed (tried again at the next attempt)", name)
            return False
        return True

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            await self.tick()

    async def tick(self) -> None:
        try:
            await self.reload_devices()
            now = self.clock()
            for name, device_id in self.ingest.rejection_events(now):
                link = self.ingest.links.get(device_id)
                resident = link.resident_id if link else None
                await self.db.run(lambda s, n=name, d=device_id, r=resident: s.add_hub_event(
                    n, now, r, detail={"device": d}))
            pending = self.ingest.take_rejections()
            if pending:
                try:
                    await self.db.run(lambda s, p=pending: s.add_rejections(p, now))
                except Exception:
                    self.ingest.give_back_rejections(pending)  # written at the next tick
                    raise
            self.ingest.rejection_log.flush()
            await self.desk.poll_hub_events()
            await self.desk.tick()
        except Exception:
            log.exception("tick failed")

    async def _pruner(self) -> None:
        r = self.config.retention
        while True:
            now = self.clock()
            try:
                n = await self.db.run(lambda s, t=now: s.prune(t - r.events_days * 86400,
                                                               t - r.alarm_days * 86400))
                if n:
                    log.info("retention: deleted %d events older than %g days", n,
                             r.events_days)
            except Exception:
                log.exception("pruning failed")
            await asyncio.sleep(r.prune_interval_h * 3600)


def _talks_espnow(role: str) -> bool:
    """True if ``role``'s devices reach the hub through the ESP-NOW bridge (False for a role
    this hub has no description of: the broker, as before)."""
    try:
        return describe(role).device().link == "espnow"
    except RoleError:
        return False
