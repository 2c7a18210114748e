"""Installing, pairing and unpairing as on a Raspberry Pi: the hub's commands run as the hub's
own non-root user, mosquitto as its own user, and nobody signals anybody. `trygg hub broker`
writes a configuration that works, pairing lets a device log in at once and hands its key to the
running hub at once, unpairing ends its login at once.

As root (CI), the hub's user is ``nobody`` with the ``mosquitto`` group (as the README's install
adds it), and mosquitto drops to its ``mosquitto`` user; otherwise both run as the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from support.hub import DEV_A, KEY_A, WAIT_S, eventually
from trygg.hub import broker
from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.tools.sim.device import SimulatedDevice
from trygg.tools.sim.home import write_hub_config
from trygg.tools.sim.mosquitto import Mosquitto, free_port
from trygg.tools.sim.processes import end_process

AS_ROOT = os.geteuid() == 0


def _as_hub_user() -> list[str]:
    if not AS_ROOT:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to run the hub's commands as another user")
    gid = grp.getgrnam("mosquitto").gr_gid
    return [setpriv, "--reuid=nobody", "--regid=nogroup", f"--groups={gid}", "--"]


def trygg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_as_hub_user(), sys.executable, "-m", "trygg.tools.cli.main", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def pi_like_folders() -> Iterator[tuple[Path, Path]]:
    """(the hub's folder, mosquitto's state folder) with the owners and modes of the README's
    install: the hub's folder is the hub user's, group mosquitto, mode 2770."""
    if AS_ROOT:
        try:
            grp.getgrnam("mosquitto")
            pwd.getpwnam("mosquitto")
        except KeyError:
            pytest.skip("no mosquitto user and group (Debian package mosquitto)")
    base = Path(tempfile.mkdtemp(prefix="trygg-pi-"))
    try:
        base.chmod(0o755)
        hub_dir, state = base / "trygg", base / "mosquitto"
        hub_dir.mkdir()
        state.mkdir()
        if AS_ROOT:
            os.chown(hub_dir, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("mosquitto").gr_gid)
            os.chown(state, pwd.getpwnam("mosquitto").pw_uid, grp.getgrnam("mosquitto").gr_gid)
        hub_dir.chmod(0o2770)
        yield hub_dir, state
    finally:
        shutil.rmtree(base, ignore_errors=True)


def start_hub_as_hub_user(config: Path) -> subprocess.Popen[bytes]:
    with open(config.with_name("hub.log"), "ab") as log:
        return subprocess.Popen([*_as_hub_user(), sys.executable, "-m", "trygg.tools.cli.main",
                                 "hub", "run", "--config", str(config), "--log-level", "info"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log)


async def still_sending(dev: SimulatedDevice) -> None:
    """Publish until the connection turns out closed (the first publish may still be written
    before the client has read the broker's close)."""
    for _ in range(20):
        await dev.event("motion")
        await asyncio.sleep(0.05)


def _hub_toml(hub_dir: Path) -> Path:
    config = write_hub_config(hub_dir, mqtt_port=free_port(), tick_s=300.0)
    if AS_ROOT:
        os.chown(config, pwd.getpwnam("nobody").pw_uid, -1)
    return config


async def test_pairing_and_unpairing_take_effect_at_once_as_the_hubs_own_user() -> None:
    with pi_like_folders() as (hub_dir, state):
        config = _hub_toml(hub_dir)
        cfg = hub_config.load(config)
        # Installation: the broker is not running yet; the hub seeds the plugin's file.
        done = trygg("hub", "broker", "--config", str(config))
        assert done.returncode == 0, done.stderr
        assert "sudo systemctl restart mosquitto" in done.stdout
        mq = Mosquitto(cfg.mqtt.port, workdir=state, broker_conf=Path(cfg.broker.conf_file))
        with mq:
            if AS_ROOT:  # mosquitto dropped to its own user: the hub's user cannot signal it
                assert pwd.getpwuid(os.stat(f"/proc/{mq._proc.pid}").st_uid).pw_name == (  # type: ignore[union-attr]
                    "mosquitto")
            done = trygg("hub", "broker", "--config", str(config))
            assert done.returncode == 0, done.stderr
            assert "has the hub and 0 device(s)" in done.stdout
            hub = start_hub_as_hub_user(config)
            try:
                await eventually(lambda: f"as trygg-hub-{cfg.hub_id}" in mq.log()
                                 or hub.poll() is not None, WAIT_S, "the hub's connection")
                assert hub.poll() is None, (config.with_name("hub.log").read_text())
                key_file = hub_dir / "a.key"
                done = trygg("hub", "pair", "--config", str(config), DEV_A, "--role", "motion",
                             "--room", "hall", "--new-key-file", str(key_file))
                assert done.returncode == 0, done.stderr
                key = bytes.fromhex(key_file.read_text().strip())
                # Logs in at once, and the running hub (rule tick 300 s) verifies and acks its
                # first frame: the key reached ingest with the pairing, not with a tick.
                async with SimulatedDevice(DEV_A, key, mq.host, mq.port,
                                           password=broker.device_password(key),
                                           client_id=broker.device_client_id(DEV_A)) as dev:
                    seq = await dev.send({"type": "hello", "firmware": "1", "role": "motion",
                                          "board": "sim", "reset": "power_on",
                                          "heartbeat_s": 30})
                    async with asyncio.timeout(WAIT_S):
                        await dev.wait_acked({seq})
                    done = trygg("hub", "unpair", "--config", str(config), DEV_A)
                    assert done.returncode == 0, done.stderr
                    # The broker closed the device's connection at once.
                    with pytest.raises(aiomqtt.MqttError):
                        await still_sending(dev)
                with pytest.raises(aiomqtt.MqttError):
                    async with aiomqtt.Client(mq.host, mq.port, username=DEV_A,
                                              password=broker.device_password(key),
                                              identifier=broker.device_client_id(DEV_A)):
                        pass
            finally:
                end_process(hub, grace_s=10)
            with Store(cfg.database) as store:
                assert store.devices() == []
                assert store.rejections() == []


def test_hub_broker_migrates_a_password_file_installation(tmp_path: Path) -> None:
    """An installation from before the plugin: passwd and acl files, a paired device. `trygg hub
    broker` writes the new configuration and the plugin's file with every paired device (the hub
    has their keys), and once the broker runs with it, removes the old files."""
    folder = tmp_path / "home"
    config = write_hub_config(folder, mqtt_port=free_port())
    cfg = hub_config.load(config)
    with Store(cfg.database) as store:
        store.add_device(DEV_A, KEY_A, "motion", "hall", "resident-1")
    old = [Path(cfg.broker.password_file), Path(cfg.broker.acl_file)]
    for path in old:
        path.write_text("from the old setup\n")
    done = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "hub", "broker",
                           "--config",
                           str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 device(s)" in done.stdout
    with Mosquitto(cfg.mqtt.port, workdir=folder / "mosquitto", extra_config=(
            ("user root",) if AS_ROOT else ()), broker_conf=Path(cfg.broker.conf_file)) as mq:
        async def device_logs_in() -> None:
            async with aiomqtt.Client(mq.host, mq.port, username=DEV_A,
                                      password=broker.device_password(KEY_A),
                                      identifier=broker.device_client_id(DEV_A)):
                pass

        asyncio.run(device_logs_in())
        done = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "hub", "broker",
                               "--config", str(config)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert "1 unchanged" in done.stdout
        assert "removed the old" in done.stdout
    assert not any(path.exists() for path in old)
