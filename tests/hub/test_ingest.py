"""Hub ingest against a real mosquitto: verify, store, then ack; hostile input never stops it.

Devices are simulated on CPython (trygg.tools.sim.device): their frames come from the same
protocol code the firmware runs, over a real MQTT connection. The ARC forwarder is
not part of these tests; alarms stay in the store.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from support.hub import (
    DEV_A,
    DEV_B,
    KEY_A,
    KEY_B,
    WAIT_S,
    alarms,
    eventually,
    make_config,
    pair,
    rejections,
    running_hub,
    stored,
)
from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.protocol import cose, frame
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto


@pytest.fixture
def cfg(tmp_path: Path, mosquitto: Mosquitto) -> hub_config.HubConfig:
    c = make_config(tmp_path, mosquitto)
    pair(c, (DEV_A, KEY_A, "motion", "bathroom"), (DEV_B, KEY_B, "bed", "bedroom"))
    return c


async def test_event_is_stored_before_it_is_acked(cfg: hub_config.HubConfig,
                                                  mosquitto: Mosquitto) -> None:
    async with running_hub(cfg), SimulatedDevice(DEV_A, KEY_A, mosquitto.host,
                                                 mosquitto.port) as dev:
        seqs = {await dev.event("motion") for _ in range(5)}
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked(seqs)
        # Everything acked is in the database at the moment the ack arrived.
        assert set(stored(cfg, DEV_A)) >= seqs
    store = Store(cfg.database)
    try:
        device = store.device(DEV_A)
        assert device is not None
        assert device.replay_highest == max(seqs)
        assert device.last_seen is not None
        assert stat.S_IMODE(os.stat(cfg.database).st_mode) == 0o600
    finally:
        store.close()


async def test_retransmission_after_lost_ack_is_acked_again_not_stored_twice(
        cfg: hub_config.HubConfig, mosquitto: Mosquitto) -> None:
    async with running_hub(cfg) as hub, SimulatedDevice(DEV_A, KEY_A, mosquitto.host,
                                                        mosquitto.port) as dev:
        seq = await dev.event("motion")
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({seq})
        dev.acked.clear()  # the device never saw the ack: it sends the frame again
        await dev.resend_unacked()
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({seq})
        assert hub.ingest.counts["reacked"] == 1
    assert stored(cfg, DEV_A) == [seq]
    assert rejections(cfg) == {}  # a retransmission is not an attack


async def test_replayed_frame_after_restart_is_recognised_from_the_persisted_window(
        cfg: hub_config.HubConfig, mosquitto: Mosquitto) -> None:
    async with SimulatedDevice(DEV_A, KEY_A, mosquitto.host, mosquitto.port) as dev:
        async with running_hub(cfg):
            seqs = {await dev.event("motion") for _ in range(3)}
            async with asyncio.timeout(WAIT_S):
                await dev.wait_acked(seqs)
        dev.acked.clear()
        async with running_hub(cfg) as hub:
            await dev.resend_unacked()
            async with asyncio.timeout(WAIT_S):
                await dev.wait_acked(seqs)
            assert hub.ingest.counts["reacked"] == 3
    assert stored(cfg, DEV_A) == sorted(seqs)


async def test_hostile_input_is_counted_and_never_stops_ingest(
        cfg: hub_config.HubConfig, mosquitto: Mosquitto) -> None:
    forger_key = bytes(32)
    hostile: list[bytes] = []
    async with running_hub(cfg) as hub, SimulatedDevice(DEV_A, KEY_A, mosquitto.host,
                                                        mosquitto.port) as dev:
        hostile += [
            b"",  # empty
            b"\xff" * 40,  # garbage
            bytes(300),  # oversized
            b"\xd1\x84" + bytes(range(60)),  # COSE-looking garbage
            # forged: right kid, wrong key
            frame.seal({"type": "event", "uptime": 1, "event": "smoke_alarm"},
                       cose.MacKey(forger_key), bytes.fromhex(DEV_A), 1000),
            # device B's valid frame published on device A's topic
            frame.seal({"type": "event", "uptime": 1, "event": "bed_out"}, cose.MacKey(KEY_B),
                       bytes.fromhex(DEV_B), 5),
            # a hub->device message sent upstream (direction bound by the external AAD)
            frame.seal({"type": "ack", "ranges": [[0, 1]]}, cose.MacKey(KEY_A),
                       bytes.fromhex(DEV_A), 7),
        ]
        for data in hostile:
            await dev.publish_raw(data)
        await dev.publish_raw(b"junk", topic="trygg/xyz/up")
        good = await dev.event("motion")
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({good})
        # the replay of an accepted frame, seen by an eavesdropper: re-acked, not re-stored
        dev.acked.clear()
        await dev.publish_raw(dev.outbox[good])
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({good})
        await hub.tick()  # writes the rejection counters
    counts = rejections(cfg)
    assert counts[(DEV_A, "truncated")] == 1
    assert counts[(DEV_A, "oversized")] == 1
    assert counts[(DEV_A, "bad_mac")] >= 2  # forged, and the AAD-bound direction
    assert counts[(DEV_A, "topic_mismatch")] == 1
    assert counts[("", "bad_topic")] == 1
    assert sum(n for (d, _), n in counts.items() if d == DEV_A) == len(hostile)
    assert stored(cfg, DEV_A) == [good]


async def test_flooding_device_is_rate_limited_without_slowing_the_others(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mosquitto, ingest={"device_rate_per_s": 2.0,
                                                   "device_burst": 20})
    pair(cfg, (DEV_A, KEY_A, "motion", "hall"), (DEV_B, KEY_B, "bed", "bedroom"))
    async with running_hub(cfg) as hub, \
            SimulatedDevice(DEV_A, KEY_A, mosquitto.host, mosquitto.port) as flooder, \
            SimulatedDevice(DEV_B, KEY_B, mosquitto.host, mosquitto.port) as calm:
        for _ in range(300):
            await flooder.event("motion")
        seqs = {await calm.event("bed_in"), await calm.event("bed_out")}
        async with asyncio.timeout(WAIT_S):
            await calm.wait_acked(seqs)
        await hub.tick()
    counts = rejections(cfg)
    assert counts[(DEV_A, "rate_limited")] >= 250
    assert len(stored(cfg, DEV_A)) <= 30
    assert set(stored(cfg, DEV_B)) == seqs


async def test_a_full_outbox_draining_after_an_outage_is_not_rate_limited(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The most a device's outbox holds (2 x the largest outbox_max, firmware/config.py), sent
    back to back as a device does on reconnecting, with the hub's default ingest settings:
    every frame is stored, nothing is rejected, no rejected-frames notice."""
    cfg = make_config(tmp_path, mosquitto, hub={"tick_s": 300})
    pair(cfg, (DEV_A, KEY_A, "motion", "hall"))
    most = 2 * 256
    async with running_hub(cfg) as hub, \
            SimulatedDevice(DEV_A, KEY_A, mosquitto.host, mosquitto.port) as dev:
        seqs = {await dev.event("motion") for _ in range(most)}
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked(seqs)
        await hub.tick()
    assert stored(cfg, DEV_A) == sorted(seqs)
    assert rejections(cfg) == {}
    assert [a for a in alarms(cfg) if a["kind"] == "rejected_frames"] == []


async def test_command_is_retried_until_the_device_reports_the_result(
        cfg: hub_config.HubConfig, mosquitto: Mosquitto) -> None:
    async with running_hub(cfg) as hub, SimulatedDevice(
            DEV_A, KEY_A, mosquitto.host, mosquitto.port, answer_commands=False) as dev:
        command_id = await hub.commands.queue(DEV_A, {"command": "identify", "seconds": 5})
        async with asyncio.timeout(WAIT_S):
            await dev.wait_commands(2)  # no answer: sent again, as a new frame
        assert {c["command_id"] for c in dev.commands} == {command_id}
        dev.answer_commands = True
        async with asyncio.timeout(WAIT_S):
            while True:
                rows = await hub.db.run(lambda s: s.commands())
                if rows[0]["state"] == "ok":
                    break
                await asyncio.sleep(0.05)
        assert rows[0]["attempts"] >= 2
    assert dev.rejected_down == []  # every hub frame verified, none replayed


async def test_hello_gets_a_time_sync_with_the_residents_utc_offset(
        cfg: hub_config.HubConfig, mosquitto: Mosquitto) -> None:
    async with running_hub(cfg), SimulatedDevice(DEV_B, KEY_B, mosquitto.host,
                                                 mosquitto.port) as dev:
        await dev.send({"type": "hello", "firmware": "0.1.0", "role": "bed",
                        "board": "esp32-devkitc", "reset": "power_on"})
        async with asyncio.timeout(WAIT_S):
            commands = await dev.wait_commands(1)
    assert commands[0]["command"] == "set_time"
    assert commands[0]["utc_offset_min"] in (60, 120)  # Europe/Oslo, winter or summer


async def test_hub_reconnects_after_a_broker_restart_and_keeps_ingesting_and_acking(
        cfg: hub_config.HubConfig, mosquitto: Mosquitto) -> None:
    async with running_hub(cfg) as hub:
        async with SimulatedDevice(DEV_A, KEY_A, mosquitto.host, mosquitto.port) as dev:
            before = {await dev.event("motion") for _ in range(3)}
            async with asyncio.timeout(WAIT_S):
                await dev.wait_acked(before)
            next_seq = dev.seq
            mosquitto.stop()  # the device's connection ends with it
            await eventually(lambda: not hub.connected.is_set(), WAIT_S,
                             "the hub notices the broker is gone")
        mosquitto.start()  # same port, no persistence: subscriptions and sessions are gone
        async with asyncio.timeout(WAIT_S):
            await hub.connected.wait()
        async with SimulatedDevice(DEV_A, KEY_A, mosquitto.host, mosquitto.port,
                                   first_seq=next_seq) as dev:
            after = {await dev.event("motion") for _ in range(3)}
            async with asyncio.timeout(WAIT_S):
                await dev.wait_acked(after)
    assert stored(cfg, DEV_A) == sorted(before | after)


async def test_repeated_forged_frames_from_a_paired_device_raise_a_rejected_frames_alarm(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    threshold = 5
    # Ticks only when the test says (the background ticker waits 300 s): no race between two.
    cfg = make_config(tmp_path, mosquitto, hub={"tick_s": 300},
                      ingest={"rejected_alarm_count": threshold, "rejected_window_s": 600})
    pair(cfg, (DEV_A, KEY_A, "motion", "hall"))
    forger = cose.MacKey(bytes(32))  # right device id, wrong key: what an attacker can send

    async def forge(n: int) -> None:
        for _ in range(n):
            await dev.publish_raw(frame.seal({"type": "event", "uptime": 1, "event": "motion"},
                                             forger, bytes.fromhex(DEV_A), 5000 + forged[0]))
            forged[0] += 1
        # The device's own frame goes after them on the same connection: once it is acked,
        # the hub has judged every forged one.
        good = await dev.event("motion")
        async with asyncio.timeout(WAIT_S):
            await dev.wait_acked({good})
        await hub.tick()  # what the ticker does every tick_s: counts -> hub event -> rules

    forged = [0]
    async with running_hub(cfg) as hub, SimulatedDevice(DEV_A, KEY_A, mosquitto.host,
                                                        mosquitto.port) as dev:
        await forge(threshold - 1)
        assert [a for a in alarms(cfg) if a["kind"] == "rejected_frames"] == []
        await forge(1)
        (alarm,) = [a for a in alarms(cfg) if a["kind"] == "rejected_frames"]
        await forge(threshold)  # still under attack: the same open alarm, no second one
        assert [a["alarm_id"] for a in alarms(cfg) if a["kind"] == "rejected_frames"] == [
            alarm["alarm_id"]]
    assert (alarm["device_id"], alarm["priority"], alarm["state"]) == (DEV_A, 5, "raised")
    assert DEV_A in alarm["description"]
    assert rejections(cfg) == {(DEV_A, "bad_mac"): 2 * threshold}
    assert len(stored(cfg, DEV_A)) == 3  # the device's own frames, all of them
