"""A device's stolen broker login against a real mosquitto running the configuration the hub
writes (``trygg hub broker``): it can take over neither the hub's session nor another device's
(nor can the hub tools' login, nor the hub's own login under another client id),
reads and writes only its own topics, and cannot use the broker settings a device could abuse
(retained messages, wills, persistent sessions, ``$SYS``, ``$CONTROL``, large packets).

The broker is started the way a Raspberry Pi runs it: Debian's ``include_dir`` of a folder with
a link to the hub's file (tools/sim/mosquitto.py), the plugin's file seeded by the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from trygg.hub.pairing import (
    broker_admin,
    hub_logins,
    hub_password,
    pair_device,
    unpair_device,
)
from trygg.hub.store import Store
from trygg.tools.cli import main as cli
from trygg.tools.cli.doctor import diagnose
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


def as_hub(mq: Mosquitto, cfg: hub_config.HubConfig) -> aiomqtt.Client:
    """A client in the hub service's place: its login, its one client id."""
    return client(mq, cfg.mqtt.username, hub_password(cfg), broker.hub_client_id(cfg.hub_id))


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


# -- the hub's own logins: its service's and its tools' ---------------------------------------

DEV_C = "c0c1c2c3c4c5"


async def test_the_hubs_session_survives_its_client_id_with_a_devices_or_the_tools_login(
        tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq), hub_log() as log:
        hub = hub_logins(cfg)
        async with running_hub(cfg) as service, device(mq, DEV_B, KEY_B) as dev_b:
            # The hub's client id with a device's key, and with the login the tools use.
            for user, password in ((DEV_A, broker.device_password(KEY_A)),
                                   (hub.admin_user, hub.admin_password)):
                reason = await refused(mq, user, password, hub.client_id)
                assert "not authori" in reason.lower(), reason
            # The service's own login under any other client id (a second hub, a script with
            # the hub's password) is refused too: it cannot be confused with the hub.
            for other in (hub.admin_client_id, broker.device_client_id(DEV_B), "trygg-hub",
                          f"{hub.client_id}-2", "anything"):
                await refused(mq, hub.user, hub.password, other)
            # The tools' login: only the tools' client id; never a device's or a made-up one.
            for other in (broker.device_client_id(DEV_B), f"{hub.admin_client_id}-2"):
                await refused(mq, hub.admin_user, hub.admin_password, other)
            # Nor the tools' client id with a device's key.
            await refused(mq, DEV_A, broker.device_password(KEY_A), hub.admin_client_id)
            # The tools' login reads no frames; the service's cannot administer the broker.
            async with client(mq, hub.admin_user, hub.admin_password,
                              hub.admin_client_id) as tools:
                granted = await tools.subscribe("trygg/+/up", qos=1)
                assert [getattr(g, "value", g) for g in granted] == [0x80]
            # The hub never lost its connection, and still ingests and acks.
            seq = await dev_b.event("bed_in")
            async with asyncio.timeout(WAIT_S):
                await dev_b.wait_acked({seq})
            assert service.connected.is_set()
        assert not [line for line in log.lines if "connection lost" in line], log.lines
    assert f"Client {hub.client_id} already connected" not in mq.log()


async def test_the_hub_tools_pair_set_up_check_and_unpair_while_the_hub_runs(
        tmp_path: Path) -> None:
    """The CLI's broker commands as a technician runs them beside the running hub (rule tick
    300 s: the new key reaches the hub with the tools' notice, not a tick)."""
    with broker_home(tmp_path, tick_s=300) as (cfg, mq), hub_log() as log:
        config = str(tmp_path / "home" / "hub.toml")
        hub = hub_logins(cfg)
        async with running_hub(cfg) as service:
            key_file = tmp_path / "c.key"
            assert await asyncio.to_thread(cli.main, [
                "hub", "pair", "--config", config, DEV_C, "--role", "motion", "--room",
                "kitchen", "--new-key-file", str(key_file)]) == 0
            key = bytes.fromhex(key_file.read_text().strip())
            async with device(mq, DEV_C, key) as dev_c:
                seq = await dev_c.event("motion")
                async with asyncio.timeout(WAIT_S):
                    await dev_c.wait_acked({seq})
            assert await asyncio.to_thread(cli.main, ["hub", "broker", "--config", config]) == 0
            checks = {c.name: c for c in await asyncio.to_thread(diagnose, cfg)}
            for name in ("broker administrable", "hub login", "device logins"):
                assert checks[name].ok, checks[name]
            assert await asyncio.to_thread(cli.main, [
                "hub", "unpair", "--config", config, DEV_C]) == 0
            await refused(mq, DEV_C, broker.device_password(key), broker.device_client_id(DEV_C))
            assert service.connected.is_set()
        assert not [line for line in log.lines if "connection lost" in line], log.lines
    assert f"Client {hub.client_id} already connected" not in mq.log()
    assert f"as {hub.admin_client_id}" in mq.log()


def test_a_second_admin_connection_waits_for_the_first_instead_of_ending_it(
        tmp_path: Path) -> None:
    """The tools have one client id: a second tool connecting with it would end the first
    mid-command. It waits for the first (here briefly, then says why it gives up)."""
    with broker_home(tmp_path) as (cfg, mq):
        with broker_admin(cfg) as first:
            second = broker_admin(cfg)
            second.timeout_s = 0.5
            with pytest.raises(broker.BrokerError, match="another hub tool"), second:
                pass
            assert DEV_A in first.clients()  # still connected, still answered
        with broker_admin(cfg) as again:
            assert DEV_B in again.clients()
    assert "already connected" not in mq.log()


def write_legacy_dynsec_file(cfg: hub_config.HubConfig) -> None:
    """The plugin's file as `trygg hub broker` wrote it before the tools had a login: the hub's
    login unbound, with the administering role."""
    hub = hub_logins(cfg)
    legacy = broker.dynsec_document(hub, [])
    legacy["clients"] = [{k: v for k, v in c.items() if k != "clientid"}
                         for c in legacy["clients"] if c["username"] == hub.user]
    legacy["clients"][0]["roles"] = [{"rolename": broker.HUB_ROLE},
                                     {"rolename": broker.LEGACY_ADMIN_ROLE}]
    for role in legacy["roles"]:
        if role["rolename"] == broker.HUB_ROLE:
            role["acls"] += broker.LEGACY_HUB_ACLS
        else:
            role["rolename"] = broker.LEGACY_ADMIN_ROLE
            role["acls"] = [a for a in role["acls"] if a not in broker.LEGACY_HUB_ACLS]
    Path(cfg.broker.dynsec_file).write_text(json.dumps(legacy))


async def test_hub_broker_binds_the_hub_on_a_broker_set_up_before_the_tools_had_a_login(
        tmp_path: Path) -> None:
    """A broker whose plugin file has the hub's login unbound and administering (as `trygg hub
    broker` wrote it before): the next `trygg hub broker` adds the tools' login, binds the hub's
    to its client id and takes the admin role from it, while the hub runs."""
    folder = tmp_path / "home"
    path = write_hub_config(folder, mqtt_port=free_port(), tick_s=300)
    cfg = hub_config.load(path)
    mq = start_broker(folder, cfg.mqtt.port)
    hub = hub_logins(cfg)
    write_legacy_dynsec_file(cfg)
    with mq:
        async with client(mq, hub.user, hub.password, "an-old-script"):
            pass  # unbound before
        async with running_hub(cfg) as service:
            with Store(cfg.database) as store:
                store.add_device(DEV_A, KEY_A, "motion", "hall", cfg.residents[0].id)
            assert await asyncio.to_thread(cli.main, ["hub", "broker", "--config",
                                                      str(path)]) == 0
            await refused(mq, hub.user, hub.password, "an-old-script")
            # The hub (disconnected once by the change) is back under its bound client id.
            async with device(mq, DEV_A, KEY_A) as dev:
                seq = await dev.event("motion")
                async with asyncio.timeout(WAIT_S):
                    await dev.wait_acked({seq})
            assert service.connected.is_set()
        with broker_admin(cfg) as admin:
            clients = admin.clients()
            roles = admin.roles()
        assert clients[hub.user]["clientid"] == hub.client_id
        assert [r["rolename"] for r in clients[hub.user]["roles"]] == [broker.HUB_ROLE]
        assert clients[hub.admin_user]["clientid"] == hub.admin_client_id
        assert broker.LEGACY_ADMIN_ROLE not in roles


# -- topics ------------------------------------------------------------------------------------


async def test_a_device_reads_and_writes_only_its_own_topics(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        secret = hub_password(cfg)
        async with client(mq, cfg.mqtt.username, secret, broker.hub_client_id(cfg.hub_id)) as hub, \
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
        async with as_hub(mq, cfg) as hub:
            await hub.subscribe("trygg/+/up", qos=1)
            assert await quiet(hub.messages) == []  # nothing retained for a new subscriber
        assert "retain" in mq.log().lower() or "disconnect" in mq.log().lower()


async def test_a_will_reaches_only_the_devices_own_uplink(tmp_path: Path) -> None:
    with broker_home(tmp_path) as (cfg, mq):
        async with as_hub(mq, cfg) as hub:
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
        async with as_hub(mq, cfg) as hub:
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
