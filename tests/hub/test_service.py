"""The hub as a whole: an alarm from a device frame to the ARC interface and back, rebuilt
after a restart without a duplicate; configuration errors; the store's durability settings;
retention; zeroconf on loopback.

``FakeForwarder`` stands in for the ARC forwarder here with exactly the agreed interface
(``async submit(report)``, the ``on_delivery(...)`` callback), so these tests pin the hub's side
of the contract; tests/system/test_hub_arc_e2e.py runs the real forwarder against a real receiver.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import pytest
from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

from support.hub import (
    DEV_A,
    KEY_A,
    KEY_SMOKE,
    SMOKE,
    WAIT_S,
    alarms,
    eventually,
    make_config,
    pair,
    running_hub,
)
from trygg.hub import config as hub_config
from trygg.hub.alarms import AlarmReport
from trygg.hub.discovery import SERVICE_TYPE, Advertiser
from trygg.hub.service import HubService
from trygg.hub.store import NewFrame, Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto


class FakeForwarder:
    """Stand-in for the ARC forwarder: records reports, signals each one."""

    def __init__(self) -> None:
        self.reports: list[Any] = []
        self.changed = asyncio.Event()

    async def submit(self, report: Any) -> None:
        self.reports.append(report)
        self.changed.set()

    async def wait_reports(self, n: int) -> list[Any]:
        async with asyncio.timeout(WAIT_S):
            while len(self.reports) < n:
                self.changed.clear()
                await self.changed.wait()
        return self.reports


async def test_smoke_frame_becomes_a_forwarded_fire_alarm_acknowledged_then_resolved(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mosquitto)
    store = Store(cfg.database)
    store.add_device(SMOKE, KEY_SMOKE, "smoke", "kitchen", "r1", zone=7)
    store.close()
    arc = FakeForwarder()
    service = HubService(cfg, arc=arc)
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready))
    try:
        async with asyncio.timeout(WAIT_S):
            await ready.wait()
        async with SimulatedDevice(SMOKE, KEY_SMOKE, mosquitto.host, mosquitto.port) as dev:
            await dev.event("smoke_alarm")
            (report,) = await arc.wait_reports(1)
            assert dataclasses.asdict(report) == {
                "alarm_id": report.alarm_id, "event": "raised", "kind": "fire", "priority": 1,
                "account": "1234", "zone": 7, "room": "kitchen", "device_id": SMOKE,
                "description": "Smoke alarm in kitchen", "raised_at": report.raised_at}
            assert abs(report.raised_at - time.time()) < 60
            service.desk.on_delivery(report.alarm_id, "raised", "arc-primary", True, "ACK")
            await service.desk.wait_idle()
            assert alarms(cfg)[0]["state"] == "acknowledged"
            await dev.event("smoke_clear")
            reports = await arc.wait_reports(2)
            assert reports[1].event == "resolved"
            assert reports[1].alarm_id == report.alarm_id
            # Why it ended comes first: a centre field too short for both keeps that.
            assert reports[1].description == "smoke alarm clear - Smoke alarm in kitchen"
            # Queued first, recorded second (a crash between is resolved again at start).
            await eventually(lambda: alarms(cfg)[0]["state"] == "resolved", WAIT_S,
                             "the alarm is recorded resolved")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    (row,) = alarms(cfg)
    assert row["state"] == "resolved"
    assert len(row["cause_event_ids"]) == 1
    # A restart rebuilds the rules from the store and forwards nothing again.
    arc2 = FakeForwarder()
    service = HubService(cfg, arc=arc2)
    await service.db.open()
    try:
        await service.reload_devices()
        await service.desk.rebuild()
    finally:
        await service.db.close()
    assert arc2.reports == []


async def test_alarm_due_while_the_hub_was_down_is_raised_at_start(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mosquitto)
    pair(cfg, (DEV_A, KEY_A, "motion", "bathroom"))
    store = Store(cfg.database)
    hour_ago = time.time() - 3600
    store.store_frames([NewFrame(DEV_A, 1, hour_ago, {"type": "event", "uptime": 5,
                                                      "event": "motion"})], {DEV_A: (1, 1)},
                       {DEV_A: "r1"})
    store.close()
    arc = FakeForwarder()
    service = HubService(cfg, arc=arc)
    await service.db.open()
    try:
        await service.reload_devices()
        await service.desk.rebuild()
        kinds = sorted(r.kind for r in arc.reports)
        # bathroom motion an hour ago and nothing since; the device has been silent too
        assert kinds == ["device_silent", "possible_fall"]
        await service.desk.rebuild()  # and a second start does not raise them again:
        # it submits the two unacknowledged alarms once more (the forwarder's outbox keeps
        # one message per alarm and remembers deliveries), and raises nothing new.
        assert {(r.alarm_id, r.event) for r in arc.reports} == {
            (r.alarm_id, r.event) for r in arc.reports[:2]}
    finally:
        await service.db.close()


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    cases = {
        '[hub]\nid = "h"\ndatabase = "d"\n[[residents]]\nid = "r"\narc_account = "1234"\n'
        'timezone = "Europe/Oslp"\n': "residents[0].timezone: unknown time zone 'Europe/Oslp'",
        '[hub]\nid = "h"\ndatabase = "d"\n[[residents]]\nid = "r"\narc_account = "1234"\n'
        '[residents.thresholds]\nstill_ceiling_min = 9999\n':
            "residents[0].thresholds.still_ceiling_min: 9999.0 out of range",
        '[hub]\nid = "h"\ndatabase = "d"\nport = 1\n[[residents]]\nid = "r"\n'
        'arc_account = "1234"\n': "hub.port: unknown key",
        '[hub]\nid = "h"\n': "hub.database: missing",
        '[hub]\nid = "h"\ndatabase = "d"\n[[residents]]\nid = "r"\narc_account = "1234"\n'
        'night_start = "25:00"\n': "residents[0].night_start: '25:00' is not a local time",
        "[hub\n": "not valid TOML",
    }
    for text, expected in cases.items():
        path.write_text(text)
        with pytest.raises(hub_config.ConfigError) as err:
            hub_config.load(path)
        assert str(err.value).startswith(str(path))
        assert expected in str(err.value)
    hub_config.load(hub_config.EXAMPLE_PATH)  # the shipped example is valid


async def test_the_running_hub_stores_with_wal_and_synchronous_full(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    # What README's durability claim rests on: an acked event survives power loss only if
    # each commit reaches the disk, which in WAL mode takes synchronous=FULL (SQLite, "PRAGMA
    # synchronous": NORMAL syncs the WAL only at checkpoints). Asked of the connection the
    # running hub writes with: the setting belongs to a connection, not to the file.
    async with running_hub(make_config(tmp_path, mosquitto)) as service:
        journal, synchronous = await service.db.run(lambda s: (
            s.conn.execute("PRAGMA journal_mode").fetchone()[0],
            s.conn.execute("PRAGMA synchronous").fetchone()[0]))
    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL


def test_retention_prunes_old_events_but_keeps_alarm_causes(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.db")
    store.add_device(DEV_A, KEY_A, "motion", "hall", "r1")
    now = time.time()
    old, recent = now - 100 * 86400, now - 86400
    frames = [NewFrame(DEV_A, i, old if i < 5 else recent,
                       {"type": "event", "uptime": i, "event": "motion"}) for i in range(8)]
    stored = store.store_frames(frames, {DEV_A: (7, 0xFF)}, {DEV_A: "r1"})
    store.raise_alarm("inactivity-r1-2", "inactivity", 3, "r1", None, old, "x", [stored[2].id])
    deleted = store.prune(now - 90 * 86400, now - 730 * 86400)
    assert deleted == 4
    assert [e.seq for e in store.events()] == [2, 5, 6, 7]
    device = store.device(DEV_A)
    assert device is not None
    assert device.pruned_seq == 4
    store.close()


async def test_hub_is_advertised_over_zeroconf_on_loopback() -> None:
    found: asyncio.Queue[dict[bytes, bytes | None]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    # A name of this run's own: multicast on loopback is shared by every test run on the host.
    hub_id = f"hub-zc-{os.getpid()}"
    async with Advertiser(hub_id, 18830, ("127.0.0.1",)):
        zc = Zeroconf(interfaces=["127.0.0.1"])
        try:
            def on_change(zeroconf: Zeroconf, service_type: str, name: str,
                          state_change: ServiceStateChange) -> None:
                if state_change is ServiceStateChange.Added and name.startswith(hub_id):
                    info = zeroconf.get_service_info(service_type, name, timeout=3000)
                    if info is not None:
                        loop.call_soon_threadsafe(found.put_nowait, dict(info.properties))

            browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
            async with asyncio.timeout(WAIT_S):
                props = await found.get()
            browser.cancel()
        finally:
            await asyncio.to_thread(zc.close)
    assert props[b"hub_id"] == hub_id.encode()
    assert props[b"mqtt_port"] == b"18830"


def test_local_report_type_has_the_agreed_fields() -> None:
    assert [f.name for f in dataclasses.fields(AlarmReport)] == [
        "alarm_id", "event", "kind", "priority", "account", "zone", "room", "device_id",
        "description", "raised_at"]
