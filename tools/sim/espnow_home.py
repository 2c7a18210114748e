"""A home with battery devices for tests and `trygg bench energy`: the ESP-NOW medium, the
real mosquitto and `trygg hub run` reading the bridge over pyserial.

The MicroPython unix port has no radio: the medium (tools/sim/espnow_medium.py) stands in for
the air between the boards; everything else is as in a home: the bridge is the Trygg firmware
in its bridge role on a simulated board behind a pseudo-terminal (the same serial path as a
USB ESP32), and the hub opens that pty with pyserial as it would /dev/ttyUSB0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trygg.hub import config as hub_config
from trygg.hub import crash_points
from trygg.hub.store import Store
from trygg.protocol import bridge as bridge_line
from trygg.tools.device.provision import pair
from trygg.tools.sim.board import SimBoard, board_config, stage_board
from trygg.tools.sim.espnow_medium import EspNowMedium
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.pty import PtyBoard

CLI = [sys.executable, "-m", "trygg.tools.cli.main"]
WAIT_S = 30.0


def add_bridge_section(config: Path, board: PtyBoard) -> None:
    """Point the hub (before it starts) at the bridge's pty, as at /dev/ttyUSB0."""
    with config.open("a") as f:
        f.write(f'\n[bridge]\nport = "{board.port_link}"\nreopen_s = 0.2\n')


def _espnow_config(role: str, device_id: str, key: bytes, **settings: Any) -> dict[str, Any]:
    """A battery device's or the bridge's provisioning file: no Wi-Fi, no broker."""
    cfg = board_config(role, 0, device_id=device_id, key=key.hex(), **settings)
    for name in ("wifi_ssid", "wifi_password", "broker_host", "broker_port"):
        cfg.pop(name)
    return cfg


def start_bridge(hub_cfg: hub_config.HubConfig, board: PtyBoard, medium: EspNowMedium,
                 room: str, **settings: Any) -> str:
    """Pair the bridge, flash its configuration onto ``board`` (a ROMFS pty board), put its
    radio on ``medium`` and start it; returns its device id."""
    key = os.urandom(32)
    device, _ = pair(hub_cfg, os.urandom(6).hex(), "bridge", room, None, None, key)
    stage_board(board.fs, packages=False)
    cfg = _espnow_config("bridge", device.device_id, key, **settings)
    (board.fs / "trygg.json").write_text(json.dumps(cfg))
    (board.fs / "sim_radio").write_text(str(medium.port))
    board.start()
    return str(device.device_id)


def battery_board(hub_cfg: hub_config.HubConfig, role: str, room: str, bridge_id: str,
                  medium: EspNowMedium, *, workdir: Path | None = None,
                  battery_mv: int = 3300, **settings: Any) -> SimBoard:
    """Pair a battery device whose only peer is the bridge ``bridge_id``; returns its board,
    not yet started."""
    key = os.urandom(32)
    device, _ = pair(hub_cfg, os.urandom(6).hex(), role, room, None, None, key)
    bridge_mac = bridge_line.mac_for(bytes.fromhex(bridge_id)).hex()
    cfg = _espnow_config(role, device.device_id, key, bridge_mac=bridge_mac, **settings)
    board = SimBoard(cfg, workdir=workdir, medium_port=medium.port)
    board.battery_mv = battery_mv
    return board


class BatteryHome:
    """Medium, broker, hub and bridge; ``add()`` pairs and starts a battery board."""

    def __init__(self, folder: Path, *, medium: EspNowMedium,
                 arc: dict[str, Any] | None = None) -> None:
        """``arc``: the hub's [arc] table (tools/sim/centre.py, Centre.receiver), if a centre
        takes its alarms."""
        self.folder = folder
        self.medium = medium
        self.mqtt_port = free_port()
        self.config = write_hub_config(folder / "hub", mqtt_port=self.mqtt_port, arc=arc)
        self.bridge_board = PtyBoard(folder / "bridge", romfs=True)
        add_bridge_section(self.config, self.bridge_board)
        self.hub_cfg = hub_config.load(self.config)
        self.database = Path(self.hub_cfg.database)
        self.boards: list[SimBoard] = []
        self.hub: subprocess.Popen[bytes] | None = None
        self.bridge_id = ""

    def start(self) -> BatteryHome:
        self.broker = start_broker(self.config.parent, self.mqtt_port)
        self.broker.__enter__()
        self.start_hub()
        self.bridge_id = start_bridge(self.hub_cfg, self.bridge_board, self.medium, "hall",
                                      heartbeat_s=2)
        # The hub reads the bridge and knows it: battery devices added now are heard.
        self.wait_event(self.bridge_id, "heartbeat")
        return self

    def start_hub(self, crash_at: str | None = None) -> None:
        """``crash_at``: hub/crash_points.py names at which the hub kills itself (SIGKILL)."""
        env = {k: v for k, v in os.environ.items() if k != crash_points.ENV}
        if crash_at is not None:
            env[crash_points.ENV] = crash_at
        self.hub_log = (self.folder / "hub.log").open("ab")
        self.hub = subprocess.Popen([*CLI, "hub", "run", "--config", str(self.config),
                                     "--log-level", "info"], stdin=subprocess.DEVNULL,
                                    stdout=self.hub_log, stderr=subprocess.STDOUT, env=env)

    def kill_hub(self) -> None:
        if self.hub is not None:
            self.hub.kill()
            self.hub.wait(10)
            self.hub = None

    @property
    def bridge_mac(self) -> str:
        return bridge_line.mac_for(bytes.fromhex(self.bridge_id)).hex()

    def add(self, role: str, battery_mv: int = 3300, **settings: Any) -> SimBoard:
        board = battery_board(self.hub_cfg, role, "bedroom", self.bridge_id, self.medium,
                              battery_mv=battery_mv, **settings)
        self.boards.append(board)
        return board.start()

    def events(self, device_id: str, name: str | None = None) -> list[dict[str, Any]]:
        store = Store(str(self.database))
        try:
            rows = store.conn.execute(
                "SELECT seq, type, name, value FROM events WHERE device_id = ? ORDER BY seq",
                (device_id,)).fetchall()
        finally:
            store.close()
        return [{"seq": seq, "type": kind, "event": event, "value": value}
                for seq, kind, event, value in rows
                if name is None or name in (kind, event)]

    def wait_event(self, device_id: str, name: str, count: int = 1,
                   timeout: float = WAIT_S) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(device_id, name)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{device_id}: {count} x {name} not stored within {timeout} s"
                                   f"; stored: {self.events(device_id)}")
            time.sleep(0.1)

    def rejections(self) -> dict[tuple[str, str], int]:
        store = Store(str(self.database))
        try:
            rows = store.conn.execute(
                "SELECT device_id, reason, count FROM rejections").fetchall()
        finally:
            store.close()
        return {(d, r): n for d, r, n in rows}

    def alarms(self) -> list[dict[str, Any]]:
        store = Store(str(self.database))
        try:
            return store.alarms(open_only=False)
        finally:
            store.close()

    def close(self) -> None:
        for board in self.boards:
            board.close()
        self.bridge_board.close()
        self.kill_hub()
        self.broker.__exit__(None, None, None)


def battery_home(folder: Path, medium: EspNowMedium,
                 arc: dict[str, Any] | None = None) -> Iterator[BatteryHome]:
    home = BatteryHome(folder, medium=medium, arc=arc)
    try:
        yield home.start()
    finally:
        home.close()
