"""A device's stolen broker login against a real mosquitto running the configuration the hub
writes (``trygg hub broker``): it can take over neither the hub's session nor another device's,
reads and writes only its own topics, and cannot use the broker settings a device could abuse
(retained messages, wills, persistent sessions, ``$SYS``, ``$CONTROL``, large packets).

The broker is started the way a Raspberry Pi runs it: Debian's ``include_dir`` of a folder with
a link to the hub's file (tools/sim/mosquitto.py), the plugin's file seeded by the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from support.hub import DEV_A, DEV_B, KEY_A, KEY_B, WAIT_S, running_hub
from trygg.hub import broker
from trygg.hub import config as hub_config
from trygg.hub.pairing import broker_admin, hub_password, pair_device, unpair_device
from trygg.hub.store import Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import Mosquitto, free_port

SHORT_S = 1.0  # how long "nothing arrives" is watched for


@contextlib.contextmanager
def broker_home(tmp_path: Path, **hub: Any) -> Iterator[tuple[hub_config.HubConfig, Mosquitto]]:
    """A hub configuration, its broker (the hub's configuration), devices A and B paired."""
    folder = tmp_path / "home"
    path = write_hub_config(folder, mqtt_port=free_port(), tick_s=hub.get("tick_s", 1.0))
    cfg = hub_config.load(path)
    with start_broker(folder, cfg.mqtt.port) as mq:
        with Store(cfg.database) as store:
            pair_device(cfg, store, DEV_A, "motion", "hall", KEY_A)
            pair_device(cfg, store, DEV_B, "bed", "bedroom", KEY_B)
        yield cfg, mq


def unpair(cfg: hub_config.HubConfig, device_id: str) -> None:
    with Store(cfg.database) as store:
        unpair_device(cfg, store, device_id)


def rekey(cfg: hub_config.HubConfig, device_id: str, key: bytes) -> None:
    """What `trygg provision` does on a board provisioned before: same id, a new key."""
    with Store(cfg.database) as store:
        store.remove_device(device_id)
        pair_device(cfg, store, device_id, "motion", "hall", key)


def client(mq: Mosquitto, user: str, password: str, client_id: str,
           **kwargs: Any) -> aiomqtt.Client:
    return aiomqtt.Client(mq.host, mq.port, username=user, password=password,
                          identifier=client_id, **kwargs)


def device(mq: Mosquitto, device_id: str, key: bytes, **kwargs: Any) -> SimulatedDevice:
    """A device as the firmware connects: its id, its derived password, client id trygg-<id>."""
    return SimulatedDevice(device_id, key, mq.host, mq.port,
                           password=broker.device_password(key),
                           client_id=broker.device_client_id(device_id), **kwargs)


async def refused(mq: Mosquitto, user: str, password: str, client_id: str) -> str:
    """Connect, expecting the broker to refuse; return its reason."""
    with pytest.raises(aiomqtt.MqttError) as err:
        async with client(mq, user, password, client_id):
            pass
    return str(err.value)


async def quiet(messages: AsyncIterator[aiomqtt.Message], seconds: float = SHORT_S
                ) -> list[aiomqtt.Message]:
    """What arrives within ``seconds`` (nothing, when the broker does its job)."""
    got: list[aiomqtt.Message] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for m in messages:
                got.append(m)
    return got


async def until_disconnected(c: aiomqtt.Client) -> None:
    async with asyncio.timeout(WAIT_S):
        async for _ in c.messages:
            pass


class HubLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def hub_log() -> Iterator[HubLog]:
    handler = HubLog()
    logger = logging.getLogger("trygg.hub")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# -- session takeover --------------------------------------------------------------------------


async def test_a_device_cannot_take_over_the_hubs_session(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq), hub_log() as log:
        async with running_hub(cfg) as hub, device(mq, DEV_B, KEY_B) as dev_b:
            hub_id = f"trygg-hub-{cfg.hub_id}"
            # The repro: a device's own user name and password with the hub's client id.
            reason = await refused(mq, DEV_A, broker.device_password(KEY_A), hub_id)
            assert "Not authorized" in reason or "not authori" in reason.lower(), reason
            # Every other client id than its own is refused as well: the hub's could be
            # guessed differently (or a persistent session opened under it).
            for other in ("trygg-hub", f"trygg-{DEV_B}", "anything"):
                await refused(mq, DEV_A, broker.device_password(KEY_A), other)
            # The hub never lost its connection, and still ingests and acks.
            seq = await dev_b.event("bed_in")
            async with asyncio.timeout(WAIT_S):
                await dev_b.wait_acked({seq})
            assert hub.connected.is_set()
        assert not [line for line in log.lines if "connection lost" in line], log.lines
    assert f"Client {hub_id} already connected" not in mq.log()


async def test_the_hub_keeps_its_session_across_reconnects(tmp_path: Path) -> None:
    """Frames sent while the hub was away wait in its persistent session (clean_session false,
    its client id untouchable by devices) and are stored when it comes back."""
    with broker_home(tmp_path) as (cfg, mq):
        async with running_hub(cfg):
            pass  # the session exists now, with the uplink subscription
        async with device(mq, DEV_A, KEY_A) as dev:
            seqs = {await dev.event("motion") for _ in range(5)}
            # A stolen key trying to end the hub's session meanwhile is refused.
            await refused(mq, DEV_B, broker.device_password(KEY_B), f"trygg-hub-{cfg.hub_id}")
            async with running_hub(cfg):
                async with asyncio.timeout(WAIT_S):
                    await dev.wait_acked(seqs)


async def test_a_device_cannot_take_over_another_devices_session(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        async with running_hub(cfg), device(mq, DEV_B, KEY_B) as dev_b:
            await refused(mq, DEV_A, broker.device_password(KEY_A),
                          broker.device_client_id(DEV_B))
            # B's connection survived: it still sends and is acked.
            seq = await dev_b.event("bed_out")
            async with asyncio.timeout(WAIT_S):
                await dev_b.wait_acked({seq})
        # Nor with B's user name without B's password.
        await refused(mq, DEV_B, broker.device_password(KEY_A), broker.device_client_id(DEV_B))
    assert f"Client {broker.device_client_id(DEV_B)} already connected" not in mq.log()


# -- topics ------------------------------------------------------------------------------------


async def test_a_device_reads_and_writes_only_its_own_topics(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        secret = hub_password(cfg)
        async with client(mq, cfg.mqtt.username, secret, "t-hub") as hub, \
                client(mq, DEV_A, broker.device_password(KEY_A),
                       broker.device_client_id(DEV_A)) as dev_a, \
                client(mq, DEV_B, broker.device_password(KEY_B),
                       broker.device_client_id(DEV_B)) as dev_b:
            await hub.subscribe("trygg/+/up", qos=1)
            # Subscriptions beyond its own downlink are refused (SUBACK 0x80, §3.9.3).
            for topic in ("trygg/+/down", f"trygg/{DEV_B}/down", "#", "$SYS/#",
                          broker.RESPONSE_TOPIC, broker.DEVICES_CHANGED_TOPIC):
                granted = await dev_a.subscribe(topic, qos=1)
                assert [getattr(g, "value", g) for g in granted] == [0x80], topic
            await dev_a.subscribe(f"trygg/{DEV_A}/down", qos=1)
            await dev_a.publish(f"trygg/{DEV_B}/up", b"forged", qos=1)  # as another device
            await dev_a.publish(f"trygg/{DEV_A}/down", b"self-command", qos=1)  # not its topic
            await dev_a.publish(broker.DEVICES_CHANGED_TOPIC, b"", qos=1)
            # Administering the broker: make itself a client without a bound client id.
            await dev_a.publish(broker.CONTROL_TOPIC, b'{"commands": [{"command": '
                                b'"createClient", "username": "evil", "password": "x"}]}',
                                qos=1)
            await dev_a.publish(f"trygg/{DEV_A}/up", b"marker-a", qos=1)
            await dev_b.publish(f"trygg/{DEV_B}/up", b"marker-b", qos=1)
            got: list[tuple[str, bytes]] = []
            async with asyncio.timeout(WAIT_S):
                async for m in hub.messages:
                    assert isinstance(m.payload, bytes)
                    got.append((m.topic.value, m.payload))
                    if len(got) == 2:
                        break
            # The same client's publishes arrive in order: the forged one would come first.
            assert sorted(got) == sorted([(f"trygg/{DEV_A}/up", b"marker-a"),
                                          (f"trygg/{DEV_B}/up", b"marker-b")])
            await hub.publish(f"trygg/{DEV_B}/down", b"for-b", qos=1)
            await hub.publish(f"trygg/{DEV_A}/down", b"for-a", qos=1)
            arrived = await quiet(dev_a.messages)
            assert [(m.topic.value, m.payload) for m in arrived] == [
                (f"trygg/{DEV_A}/down", b"for-a")]  # no $SYS, no response, not B's
        with broker_admin(cfg) as admin:
            assert "evil" not in admin.clients()
        await refused(mq, "evil", "x", "evil")


# -- the other settings a device could abuse -----------------------------------------------


async def test_a_retained_message_disconnects_its_sender_and_is_never_replayed(
        tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        async with client(mq, DEV_A, broker.device_password(KEY_A),
                          broker.device_client_id(DEV_A)) as dev_a:
            await dev_a.publish(f"trygg/{DEV_A}/up", b"retained", qos=0, retain=True)
            with pytest.raises(aiomqtt.MqttError):
                async with asyncio.timeout(WAIT_S):
                    await dev_a.publish(f"trygg/{DEV_A}/up", b"after", qos=1)
        async with client(mq, cfg.mqtt.username, hub_password(cfg), "t-hub") as hub:
            await hub.subscribe("trygg/+/up", qos=1)
            assert await quiet(hub.messages) == []  # nothing retained for a new subscriber
        assert "retain" in mq.log().lower() or "disconnect" in mq.log().lower()


async def test_a_will_reaches_only_the_devices_own_uplink(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        async with client(mq, cfg.mqtt.username, hub_password(cfg), "t-hub") as hub:
            await hub.subscribe("trygg/+/up", qos=1)
            # Wills on another device's uplink and on its own, then a connection that dies.
            for topic, payload in ((f"trygg/{DEV_B}/up", b"will-as-b"),
                                   (f"trygg/{DEV_A}/up", b"will-as-a")):
                raw = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=broker.device_client_id(DEV_A))
                raw.username_pw_set(DEV_A, broker.device_password(KEY_A))
                raw.will_set(topic, payload, qos=1)
                raw.connect(mq.host, mq.port)
                deadline = time.monotonic() + WAIT_S
                while not raw.is_connected() and time.monotonic() < deadline:
                    raw.loop(timeout=0.05)
                assert raw.is_connected()
                raw.socket().close()  # dies without DISCONNECT: the broker sends the will
            arrived = await quiet(hub.messages, 2 * SHORT_S)
            assert [(m.topic.value, m.payload) for m in arrived] == [
                (f"trygg/{DEV_A}/up", b"will-as-a")]  # checked and counted like any frame


async def test_a_packet_larger_than_any_frame_disconnects_its_sender(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        async with client(mq, cfg.mqtt.username, hub_password(cfg), "t-hub") as hub:
            await hub.subscribe("trygg/+/up", qos=1)
            async def oversized() -> None:
                async with client(mq, DEV_A, broker.device_password(KEY_A),
                                  broker.device_client_id(DEV_A)) as dev_a:
                    await dev_a.publish(f"trygg/{DEV_A}/up", bytes(broker.MAX_PACKET_SIZE + 1),
                                        qos=1)
                    async with asyncio.timeout(WAIT_S):
                        await dev_a.publish(f"trygg/{DEV_A}/up", b"after", qos=1)

            with pytest.raises(aiomqtt.MqttError):
                await oversized()
            assert await quiet(hub.messages) == []


async def test_unpairing_ends_the_login_and_the_persistent_session_at_once(
        tmp_path: Path) -> None:
    """A device that opened a persistent session (the firmware never does) loses it with its
    login: once re-paired with a new key, nothing of the old session is there."""
    with broker_home(tmp_path) as (cfg, mq):
        old_password = broker.device_password(KEY_A)
        cid = broker.device_client_id(DEV_A)
        async with client(mq, DEV_A, old_password, cid, clean_session=False) as dev_a:
            await dev_a.subscribe(f"trygg/{DEV_A}/down", qos=1)
            await asyncio.to_thread(unpair, cfg, DEV_A)
            with pytest.raises(aiomqtt.MqttError):  # the broker closed the connection
                await until_disconnected(dev_a)
        assert "not authori" in (await refused(mq, DEV_A, old_password, cid)).lower()
        new_key = bytes(range(50, 82))
        with Store(cfg.database) as store:
            pair_device(cfg, store, DEV_A, "motion", "hall", new_key)
        present: list[bool] = []
        raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, clean_session=False)
        raw.username_pw_set(DEV_A, broker.device_password(new_key))
        raw.on_connect = lambda _c, _u, flags, _rc, _p: present.append(flags.session_present)
        raw.connect(mq.host, mq.port)
        deadline = time.monotonic() + WAIT_S
        while not present and time.monotonic() < deadline:
            raw.loop(timeout=0.05)
        raw.disconnect()
        assert present == [False]


# -- pairing as the hub's own user -----------------------------------------------------------


async def test_rekeying_disconnects_the_old_key_and_the_new_one_logs_in_at_once(
        tmp_path: Path) -> None:
    with broker_home(tmp_path, tick_s=300) as (cfg, mq):
        async with running_hub(cfg) as hub, device(mq, DEV_A, KEY_A) as old:
            seq = await old.event("motion")
            async with asyncio.timeout(WAIT_S):
                await old.wait_acked({seq})
            new_key = bytes(range(60, 92))
            await asyncio.to_thread(rekey, cfg, DEV_A, new_key)
            assert "not authori" in (await refused(mq, DEV_A, broker.device_password(KEY_A),
                                                   broker.device_client_id(DEV_A))).lower()
            # (past the old key's numbers: events stored under them stay)
            async with device(mq, DEV_A, new_key, first_seq=1000) as new:
                seq = await new.event("motion")
                async with asyncio.timeout(WAIT_S):
                    await new.wait_acked({seq})  # the hub has the new key: no 15 s tick
            assert hub.ingest.counts["rejected"] == 0
