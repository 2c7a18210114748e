"""SCAIP figures for ``trygg bench arc``: raised-to-acceptance latency (the centre's <mrs>
with snu 0, not SIP's 200) through a real kamailio, over UDP and TCP, and the time to drain a
burst queued while the centre was away. Skipped, with the reason, where PJSIP's binding or
kamailio is missing."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from trygg.hub.arc import AlarmReport, ArcConfig, ArcForwarder, load_arc_config, scaip_sip
from trygg.hub.arc.scaip_console import ScaipConsole

from .kamailio import Kamailio, find_kamailio

HUB = "1234"
CID = "4670001"
CENTRE = "alarm"
USERS = {CID: "bench-hub", CENTRE: "bench-centre"}


def unavailable() -> str | None:
    """Why SCAIP cannot be measured here, or None."""
    if not scaip_sip.available():
        return scaip_sip.BUILD_HINT
    try:
        find_kamailio()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def _config(port: int, transport: str) -> ArcConfig:
    return load_arc_config({
        "account": HUB, "retry_backoff_initial": 0.05, "retry_backoff_max": 0.2,
        "receivers": [{"name": "arc", "host": "127.0.0.1", "port": port, "protocol": "scaip",
                       "transport": transport, "cid": CID, "password": USERS[CID],
                       "centre": CENTRE, "local_host": "127.0.0.1",
                       "response_timeout": 5.0}]})


def _console(server: Kamailio) -> ScaipConsole:
    return ScaipConsole(server.host, server.port, user=CENTRE, password=USERS[CENTRE])


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def latency(tmp: Path, count: int, transport: str,
                  report: Callable[[int], AlarmReport]) -> dict[str, float]:
    accepted: dict[str, float] = {}
    arrived = asyncio.Event()

    def delivered(alarm_id: str, event: str, name: str, ok: bool, detail: str) -> None:
        if ok:
            accepted[alarm_id] = time.perf_counter()
            arrived.set()

    latencies: list[float] = []
    with Kamailio(USERS) as server:
        cfg = _config(server.port, transport)
        async with _console(server), \
                ArcForwarder(cfg, tmp / f"scaip-{transport}.sqlite",
                             on_delivery=delivered) as fwd:
            for i in range(count):
                rep = report(i)
                arrived.clear()
                raised = time.perf_counter()
                await fwd.submit(rep)
                await asyncio.wait_for(arrived.wait(), 10)
                latencies.append((accepted[rep.alarm_id] - raised) * 1000)
    return {"p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(_percentile(latencies, 0.99), 2),
            "max_ms": round(max(latencies), 2), "count": count}


async def drain(tmp: Path, burst: int, report: Callable[[int], AlarmReport]) -> dict[str, float]:
    first: list[float] = []

    def delivered(alarm_id: str, event: str, name: str, ok: bool, detail: str) -> None:
        if ok and not first:
            first.append(time.perf_counter())

    with Kamailio(USERS) as server:
        console = _console(server)
        async with ArcForwarder(_config(server.port, "udp"),
                                tmp / "scaip-drain.sqlite", on_delivery=delivered) as fwd:
            started = time.perf_counter()
            for i in range(burst):
                await fwd.submit(report(i))
            queued_s = time.perf_counter() - started
            await asyncio.sleep(0.3)  # the outage: the centre is not registered
            back = time.perf_counter()
            await console.start()
            try:
                if not await fwd.wait_drained(600):
                    raise RuntimeError("the SCAIP queue did not drain within 600 s")
                done = time.perf_counter()
            finally:
                await console.stop()
    received = len({e.mrq.ref for e in console.alarms()
                    if e.mrq and e.snu == 0 and e.kind != "receiver_unreachable"})
    return {"burst": burst, "received": received,
            "submit_ms_per_alarm": round(queued_s * 1000 / burst, 3),
            "centre_back_to_first_accept_s": round(first[0] - back, 3),
            "drain_s": round(done - back, 3),
            "drain_alarms_per_s": round(burst / (done - back), 1)}
