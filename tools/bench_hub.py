"""Hub benchmark: ingest rate against a bare MQTT subscriber, ack latency, rules replay rate.

Targets (issue 4): hub ingest (verified, stored, rules applied, acked) >= 0.8 x the receive rate
of a bare aiomqtt subscriber on the same broker and load; rules replay >= 100,000 events/s on
one core over one simulated resident-year.

The publishers (simulated devices), the bare subscriber and the hub all run in this process and
event loop, so both rates carry the same publisher overhead; the ratio is the figure to quote.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path
from typing import Any

import aiomqtt

from trygg.hub import config as hub_config
from trygg.hub.rules import DeviceInfo, Event, RulesConfig, RulesEngine, State, replay
from trygg.hub.service import HubService
from trygg.hub.store import Store

from .mosquitto import Mosquitto


def _device_ids(n: int) -> list[str]:
    return [f"be0c{i:08x}" for i in range(n)]


def _key(i: int) -> bytes:
    return bytes((i + j) % 256 for j in range(32))


# Frames are published by a separate process (the same one for both receivers), so the
# receiver under test has its own interpreter, as the hub has on the Pi.
_LOAD_SCRIPT = """
import asyncio, contextlib, json, statistics, sys
from trygg.hub.simulated_device import SimulatedDevice
from trygg.tools.bench_hub import _device_ids, _key

async def main(port, n, frames, wait_acks):
    ids = _device_ids(n)
    async with contextlib.AsyncExitStack() as stack:
        devs = [await stack.enter_async_context(SimulatedDevice(d, _key(i), "127.0.0.1", port))
                for i, d in enumerate(ids)]
        print("ready", flush=True)
        sys.stdin.readline()
        async def one(dev):
            for _ in range(frames):
                await dev.event("motion")
        await asyncio.gather(*(one(d) for d in devs))
        if wait_acks:
            async with asyncio.timeout(300):
                for d in devs:
                    await d.wait_acked()
        lat = sorted(x for d in devs for x in d.ack_latency)
        out = {"acked": len(lat)}
        if lat:
            out.update(p50=statistics.median(lat), p99=lat[int(0.99 * (len(lat) - 1))])
        print(json.dumps(out), flush=True)

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"))
"""


async def _load(broker: Mosquitto, n_devices: int, frames: int, wait_acks: bool
                ) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LOAD_SCRIPT, str(broker.port), str(n_devices), str(frames),
        "1" if wait_acks else "0", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        line = await proc.stdout.readline()
    if line.strip() != b"ready":
        raise RuntimeError("load generator did not start")
    return proc


async def _go(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    async with asyncio.timeout(600):
        line = await proc.stdout.readline()
        await proc.wait()
    result: dict[str, Any] = json.loads(line)
    return result


async def bare_rate(broker: Mosquitto, n_devices: int, frames: int) -> float:
    total = n_devices * frames
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-bare") as sub:
        await sub.subscribe("trygg/+/up", qos=1)
        proc = await _load(broker, n_devices, frames, wait_acks=False)
        load = asyncio.create_task(_go(proc))
        got = 0
        t0 = 0.0
        async with asyncio.timeout(600):
            async for _m in sub.messages:
                got += 1
                if got == 1:
                    t0 = time.perf_counter()
                if got == total:
                    break
        dt_s = time.perf_counter() - t0
        await load
    return (total - 1) / dt_s


async def hub_rate(broker: Mosquitto, workdir: Path, n_devices: int,
                   frames: int) -> dict[str, float]:
    cfg = hub_config.parse({
        "hub": {"id": "bench", "database": str(workdir / "hub.db"), "tick_s": 5},
        "mqtt": {"host": broker.host, "port": broker.port},
        "discovery": {"enabled": False},
        "ingest": {"device_rate_per_s": 1e4, "device_burst": 100000},
        "residents": [{"id": "r1", "arc_account": "1234"}],
    }, "bench")
    ids = _device_ids(n_devices)
    store = Store(cfg.database)
    for i, d in enumerate(ids):
        store.add_device(d, _key(i), "motion", f"room{i % 5}", "r1")
    store.close()
    service = HubService(cfg)
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready))
    try:
        async with asyncio.timeout(30):
            await ready.wait()
        proc = await _load(broker, n_devices, frames, wait_acks=True)
        result = await _go(proc)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    total = n_devices * frames
    first = service.ingest.first_frame_at or 0.0
    return {"frames_per_s": (total - 1) / (service.ingest.last_ack_at - first),
            "ack_p50_ms": 1000 * float(result["p50"]),
            "ack_p99_ms": 1000 * float(result["p99"]),
            "acked": float(result["acked"]),
            "batches": float(service.ingest.counts["batches"])}


def resident_year(zone: str = "Europe/Oslo", year: int = 2025) -> tuple[RulesConfig,
                                                                        list[Event]]:
    """One simulated year of one home: motion about every 3 minutes through the day in
    rotating rooms, bed, bathroom at night, two outings, two doses, heartbeats from five
    devices every five minutes (about 2,200 events a day)."""
    from trygg.hub.config import Resident

    bed, bath, kitchen, hall, pills = ("b0", "b1", "b2", "b3", "b4")
    roles = {bed: ("bed", "bedroom"), bath: ("motion", "bathroom"),
             kitchen: ("motion", "kitchen"), hall: ("motion", "hall"),
             pills: ("dispenser", "kitchen")}
    tz = zoneinfo.ZoneInfo(zone)
    raw: list[tuple[float, str, str, str | None, int | None]] = []
    day = dt.date(year, 1, 1)
    start = dt.datetime(year, 1, 1, tzinfo=tz).timestamp()
    while day.year == year:
        def at(h: int, m: int, d: dt.date = day) -> float:
            return dt.datetime(d.year, d.month, d.day, h, m, tzinfo=tz).timestamp()
        raw.append((at(7, 0), bed, "event", "bed_out", None))
        raw.append((at(8, 0), pills, "event", "dose_due", 1))
        raw.append((at(8, 5), pills, "event", "dose_taken", 1))
        raw.append((at(18, 0), pills, "event", "dose_due", 2))
        raw.append((at(18, 5), pills, "event", "dose_taken", 2))
        t = at(7, 1)
        rooms = (bath, kitchen, kitchen, hall)
        k = 0
        while t < at(22, 0):
            if at(10, 0) <= t < at(12, 0):  # out
                t = at(12, 0)
                continue
            raw.append((t, rooms[k % 4], "event", "motion", None))
            k += 1
            t += 180
        raw.append((at(9, 59), hall, "event", "door_open", None))
        raw.append((at(10, 0), hall, "event", "door_close", None))
        raw.append((at(12, 0), hall, "event", "door_open", None))
        raw.append((at(12, 1), hall, "event", "door_close", None))
        raw.append((at(22, 30), bed, "event", "bed_in", None))
        day += dt.timedelta(days=1)
    end = dt.datetime(year + 1, 1, 1, tzinfo=tz).timestamp()
    t = start
    while t < end:
        for d in roles:
            raw.append((t + 5, d, "heartbeat", None, None))
        t += 300
    raw.sort(key=lambda r: r[0])
    hb = {"type": "heartbeat", "uptime": 1, "battery_mv": 3900, "rssi": -60, "free_heap": 50000,
          "outbox": 0, "rejected": 0}
    events = [Event(i + 1, t, d, i, "r1", typ, name, value, None,
                    hb if typ == "heartbeat" else {"type": typ, "event": name})
              for i, (t, d, typ, name, value) in enumerate(raw)]
    config = RulesConfig({"r1": Resident(id="r1", arc_account="1234", timezone=zone)},
                         {d: DeviceInfo(d, r, room, "r1", i + 1, 300.0, start)
                          for i, (d, (r, room)) in enumerate(roles.items())})
    return config, events


def rules_rate() -> dict[str, float]:
    config, events = resident_year()
    engine = RulesEngine(config)
    state = State()
    t0 = time.perf_counter()
    alarms = sum(1 for _ in replay(engine, state, events))
    dt_s = time.perf_counter() - t0
    return {"events": float(len(events)), "events_per_s": len(events) / dt_s,
            "actions": float(alarms), "seconds": dt_s}


def run(devices: int = 10, frames: int = 500) -> int:
    with contextlib.suppress(AttributeError, OSError):  # the rules target is for one core
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rules = rules_rate()
    print(f"Rules replay, one resident-year ({rules['events']:,.0f} events), one core:")
    print(f"  {rules['events_per_s']:,.0f} events/s ({rules['seconds']:.2f} s, "
          f"{rules['actions']:.0f} actions)")
    with contextlib.suppress(AttributeError, OSError):  # broker on the other core
        os.sched_setaffinity(0, os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)))
    # Unlimited queue for the receiver: the load must reach it whole (mosquitto.conf(5)).
    with tempfile.TemporaryDirectory(prefix="trygg-bench-hub-") as tmp, \
            Mosquitto(extra_config=("max_queued_messages 0",)) as broker:
        bare = asyncio.run(bare_rate(broker, devices, frames))
        hub = asyncio.run(hub_rate(broker, Path(tmp), devices, frames))
    ratio = hub["frames_per_s"] / bare
    print(f"Ingest, {devices} devices x {frames} frames, same broker and load:")
    print(f"  bare aiomqtt subscriber receive   {bare:10,.0f} frames/s")
    print(f"  hub verify+store+rules+ack        {hub['frames_per_s']:10,.0f} frames/s "
          f"(ratio {ratio:.2f}, {hub['batches']:.0f} group commits)")
    print(f"  ack latency p50 {hub['ack_p50_ms']:.1f} ms, p99 {hub['ack_p99_ms']:.1f} ms")
    targets = {"ingest_ratio_ge_0_8": ratio >= 0.8,
               "rules_replay_ge_100000_per_s": rules["events_per_s"] >= 100_000}
    print("Targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in targets.items()))
    result: dict[str, Any] = {"bench": "hub", "bare_frames_per_s": bare, "hub": hub,
                              "ratio": ratio, "rules": rules, "targets": targets}
    print(json.dumps(result, sort_keys=True))
    return 0
