"""kill -9 of the hub process during a burst loses no acked event (ARCHITECTURE invariant 2).

The hub runs as its own process (`trygg hub run`). Three simulated devices send a burst while
it is away, which the broker queues in the hub's persistent session (MQTT 3.1.1 §3.1.2.4);
the hub comes back, drains it in small group commits, and kills itself with SIGKILL before
its third batch (crash point ``ingest.next_batch@3``: two batches stored and acked), so it
dies mid-burst whatever the machine's load (checked: frames sent to it that it had not stored).
Restarted, it gets what the devices send again. Every event acked before the kill must be in
the database, and at the end every event is stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import pytest

from support.hub import start_hub, stop_hub, wait_until_acking, write_hub_toml
from trygg.hub.store import Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto

DEVICES = {"a1b2c3d4e5f6": bytes(range(32)), "0a0b0c0d0e0f": bytes(range(1, 33)),
           "c0ffee000001": bytes(range(2, 34))}
BURST = 200  # per device: 600 frames queued for the hub (the test broker queues up to 1000)
BATCH_MAX = 16
KILL_BEFORE_BATCH = 3  # two batches stored and acked, almost all of the burst still to store
WAIT_S = 30.0




async def test_kill_9_during_a_burst_loses_no_acked_event(tmp_path: Path,
                                                          mosquitto: Mosquitto) -> None:
    config = write_hub_toml(tmp_path, mosquitto)
    # Small group commits: the burst is stored in many transactions, so the kill lands between
    # (or inside) commits with most of the burst still to come.
    config.write_text(config.read_text().replace("[ingest]\n",
                                                 f"[ingest]\nbatch_max = {BATCH_MAX}\n"))
    store = Store(tmp_path / "hub.db")
    for i, (device_id, key) in enumerate(DEVICES.items()):
        store.add_device(device_id, key, "motion", f"room{i}", "r1")
    store.close()

    proc = start_hub(config)
    try:
        async with contextlib.AsyncExitStack() as stack:
            devices = [await stack.enter_async_context(
                SimulatedDevice(d, k, mosquitto.host, mosquitto.port)) for d, k in DEVICES.items()]
            await wait_until_acking(devices[0], proc, config)  # its session is subscribed
            stop_hub(proc)
            await asyncio.gather(*(_burst(dev) for dev in devices))  # queued for the hub
            proc = start_hub(config, crash_at=f"ingest.next_batch@{KILL_BEFORE_BATCH}")
            await asyncio.to_thread(proc.wait, WAIT_S)
            assert proc.returncode == -signal.SIGKILL
            # The acks of the two stored batches had reached the broker before the kill.
            async with asyncio.timeout(WAIT_S):
                while sum(len(d.acked) for d in devices) < 1 + KILL_BEFORE_BATCH - 1:
                    devices[0]._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.2):
                            await devices[0]._changed.wait()
            acked_before = {d.device_id: set(d.acked) for d in devices}

            not_stored = 0
            db = Store(tmp_path / "hub.db")
            try:
                for dev in devices:
                    in_db = {e.seq for e in db.events(device_id=dev.device_id)}
                    acked = acked_before[dev.device_id]
                    assert acked <= in_db, f"{dev.device_id}: acked but lost: {acked - in_db}"
                    not_stored += len(set(dev.outbox) - in_db)
            finally:
                db.close()
            # Mid-burst: the hub died before it had stored (let alone acked) all it was sent.
            assert not_stored > 0, "the kill came after the hub had stored the whole burst"

            proc = start_hub(config)
            for dev in devices:
                await dev.resend_unacked()
            async with asyncio.timeout(WAIT_S):
                for dev in devices:
                    while set(dev.outbox) - dev.acked:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(1.0):
                                await dev.wait_acked()
                        if set(dev.outbox) - dev.acked:
                            await dev.resend_unacked()
    finally:
        stop_hub(proc)

    db = Store(tmp_path / "hub.db")
    try:
        for dev in devices:
            seqs = [e.seq for e in db.events(device_id=dev.device_id)]
            assert sorted(seqs) == sorted(dev.outbox), "every event stored exactly once"
    finally:
        db.close()


async def _burst(dev: SimulatedDevice) -> None:
    for _ in range(BURST):
        await dev.event("motion")


def test_crash_points_are_named_with_an_optional_count() -> None:
    from trygg.hub.crash_points import _parse

    assert _parse(" alarm.stored, ingest.next_batch@3 ,") == {"alarm.stored": 1,
                                                             "ingest.next_batch": 3}
    with pytest.raises(SystemExit, match=r"ingest\.next_batch@0.*whole number"):
        _parse("ingest.next_batch@0")
