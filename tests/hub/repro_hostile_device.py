"""Repros of a hostile device's three findings, for before/after figures (not a test: run it).

A) hub log bytes per 2,000 frames with a reused sequence number; B) a device's own login with
the hub's client id while the hub runs; C) 15,000 hostile payloads (half QoS 0) and where each
went. Runs against whichever trygg is installed (old: password files, new: the plugin):
``.venv/bin/python tests/hub/repro_hostile_device.py``. Prints one JSON line per repro."""

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import trygg.hub.broker as hb
from trygg.hub.store import Store
from trygg.protocol import cose, frame
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.mosquitto import Mosquitto, free_port

NEW = hasattr(hb, "BrokerAdmin")
DEV = "a1b2c3d4e5f6"
KEY = bytes(range(32))
T = [sys.executable, "-m", "trygg.tools.cli.main", "hub"]


def toml(folder, port, extra=""):
    p = folder / "hub.toml"
    p.write_text(f"""[hub]
id = "hub-m"
database = "{folder}/hub.db"
tick_s = 1
[mqtt]
port = {port}
reconnect_s = 0.5
{extra}
[discovery]
enabled = false
[ingest]
device_rate_per_s = 10000
device_burst = 10000
[[residents]]
id = "r1"
arc_account = "1234"
""")
    return p


def start_hub(cfg):
    with open(cfg.with_name("hub.log"), "ab") as log:
        return subprocess.Popen(
            [*T, "run", "--config", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


async def repro_log():
    folder = Path(tempfile.mkdtemp())
    with Mosquitto() as mq:
        cfg = toml(folder, mq.port)
        with Store(str(folder / "hub.db")) as s:
            s.add_device(DEV, KEY, "motion", "hall", "r1")
        hub = start_hub(cfg)
        try:
            async with SimulatedDevice(DEV, KEY, mq.host, mq.port) as dev:
                for _ in range(100):
                    seq = await dev.event("motion")
                    try:
                        async with asyncio.timeout(0.5):
                            await dev.wait_acked({seq})
                            break
                    except TimeoutError:
                        pass
                before = cfg.with_name("hub.log").stat().st_size
                kid = bytes.fromhex(DEV)
                for i in range(2000):
                    await dev.publish_raw(
                        frame.seal(
                            {"type": "event", "uptime": 100 + i, "event": "motion"},
                            cose.MacKey(KEY),
                            kid,
                            0,
                        )
                    )
                for _ in range(250):
                    with Store(str(folder / "hub.db")) as s:
                        n = sum(r["count"] for r in s.rejections() if r["reason"] == "seq_reused")
                    if n >= 2000:
                        break
                with Store(str(folder / "hub.db")) as s:
                    allrej = {r["reason"]: r["count"] for r in s.rejections()}
                    await asyncio.sleep(0.1)
                after = cfg.with_name("hub.log").stat().st_size
                print(
                    json.dumps(
                        {
                            "repro": "log",
                            "code": "new" if NEW else "old",
                            "rejections": allrej,
                            "log_bytes_for_2000_frames": after - before,
                        }
                    )
                )
        finally:
            hub.terminate()
            hub.wait(10)


def repro_takeover():
    folder = Path(tempfile.mkdtemp())
    port = free_port()
    if NEW:
        from trygg.tools.sim.home import start_broker, write_hub_config

        cfg = write_hub_config(folder, mqtt_port=port, hub_id="hub-m")
        mq = start_broker(folder, port)
    else:
        cfg = toml(
            folder,
            port,
            f'password_file = "{folder}/hub.secret"\n[broker]\n'
            f'password_file = "{folder}/passwd"\nacl_file = "{folder}/acl"\n'
            f'pid_file = "{folder}/mq.pid"',
        )
        subprocess.run([*T, "broker", "--config", str(cfg)], check=True, capture_output=True)
        mq = Mosquitto(
            port,
            password_file=folder / "passwd",
            acl_file=folder / "acl",
            extra_config=("user root",),
            pid_file=folder / "mq.pid",
        )
    (folder / "a.key").write_text(KEY.hex())
    with mq:
        r = subprocess.run(
            [
                *T,
                "pair",
                "--config",
                str(cfg),
                DEV,
                "--role",
                "motion",
                "--key-file",
                str(folder / "a.key"),
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        if not NEW:
            mq.reload()
            time.sleep(0.5)
        hub = start_hub(cfg)
        try:
            for _ in range(100):
                if "as trygg-hub-hub-m" in mq.log():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            res = {}
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="trygg-hub-hub-m")
            c.username_pw_set(DEV, hb.device_password(KEY))
            c.on_connect = lambda cl, ud, fl, rc, pr: res.setdefault("connack", str(rc))
            c.connect(mq.host, mq.port)
            c.loop_start()
            time.sleep(3)
            c.loop_stop()
            log = cfg.with_name("hub.log").read_text()
            print(
                json.dumps(
                    {
                        "repro": "takeover",
                        "code": "new" if NEW else "old",
                        "attacker_connack": res.get("connack"),
                        "hub_log_connection_lost": log.count("connection lost"),
                        "broker_closed_the_hub": mq.log().count(
                            "Client trygg-hub-hub-m already connected"
                        ),
                    }
                )
            )
        finally:
            hub.terminate()
            hub.wait(10)


async def repro_flood(n: int = 15000) -> None:
    from trygg.hub import config as hub_config
    from trygg.hub.service import HubService

    folder = Path(tempfile.mkdtemp())
    with Mosquitto() as mq:
        cfg = hub_config.parse(
            {
                "hub": {"id": "h", "database": str(folder / "hub.db"), "tick_s": 1},
                "mqtt": {"host": mq.host, "port": mq.port, "reconnect_s": 0.2},
                "discovery": {"enabled": False},
                "residents": [{"id": "r1", "arc_account": "1234", "timezone": "Europe/Oslo"}],
            },
            "x",
        )
        with Store(cfg.database) as s:
            s.add_device(DEV, KEY, "motion", "hall", "r1")
        hub = HubService(cfg)
        ready = asyncio.Event()
        task = asyncio.create_task(hub.run(ready))
        await ready.wait()
        kid = bytes.fromhex(DEV)
        good = frame.seal(
            {"type": "event", "uptime": 1, "event": "motion"}, cose.MacKey(KEY), kid, 0
        )
        kinds = [
            lambda i: b"\xff" * 40,
            lambda i: frame.seal(
                {"type": "event", "uptime": i, "event": "motion"}, cose.MacKey(bytes(32)), kid, i
            ),
            lambda i: good,
            lambda i: frame.seal(
                {"type": "event", "uptime": i + 2, "event": "motion"}, cose.MacKey(KEY), kid, 0
            ),
            lambda i: bytes(300),
        ]
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
        c.max_inflight_messages_set(1000)
        c.connect(mq.host, mq.port)
        c.loop_start()
        sysc: dict[str, str] = {}
        s2 = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sys")
        s2.on_message = lambda cl, ud, m: sysc.__setitem__(m.topic, m.payload.decode())
        s2.connect(mq.host, mq.port)
        s2.subscribe("$SYS/broker/publish/messages/#")
        s2.loop_start()
        c.publish(f"trygg/{DEV}/up", good, qos=1).wait_for_publish()
        await asyncio.sleep(1)
        for i in range(n):
            c.publish(f"trygg/{DEV}/up", kinds[i % 5](i), qos=i % 2)
            if i % 500 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(3)
        await hub.ingest.idle.wait()
        await hub.tick()
        await asyncio.sleep(12)  # mosquitto's $SYS interval (10 s)
        await hub.tick()
        with Store(cfg.database) as st:
            rej = {r["reason"]: r["count"] for r in st.rejections()}
            stored = len(list(st.events(device_id=DEV)))
        print(
            json.dumps(
                {
                    "repro": "flood",
                    "code": "new" if NEW else "old",
                    "sent": n + 1,
                    "hub_counts": hub.ingest.counts,
                    "rejections_table": rej,
                    "events_stored": stored,
                    "in_the_hubs_store": sum(rej.values()) + stored,
                    "broker_sys_dropped": sysc.get("$SYS/broker/publish/messages/dropped"),
                }
            )
        )
        c.loop_stop()
        s2.loop_stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


if __name__ == "__main__":
    asyncio.run(repro_log())
    repro_takeover()
    asyncio.run(repro_flood())
