"""A hub configuration for a home on this machine: the demo's and the tests'.

Everything on loopback and in one folder: the hub's database and secrets, the
broker configuration the hub writes (so devices authenticate and stay in their
own topics, as in a real home), and optionally the ARC receivers. Thresholds can be
shortened (the demo profile) so that a night fall is detected in seconds.
"""

import json
from pathlib import Path
from typing import Any


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def write_hub_config(folder: Path, *, mqtt_port: int, hub_id: str = "hub-home",
                     tick_s: float = 1.0, authenticated_broker: bool = True,
                     timezone: str = "Europe/Oslo", arc_account: str = "1234",
                     thresholds: dict[str, Any] | None = None,
                     resident: dict[str, Any] | None = None,
                     arc: dict[str, Any] | None = None,
                     broker_host: str = "127.0.0.1") -> Path:
    """Write ``folder/hub.toml``; return its path. Paths inside are relative to ``folder``.
    ``broker_host``: the address the broker listens on and the hub connects to."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [_table("hub", {"id": hub_id, "database": "hub.db", "tick_s": tick_s})]
    mqtt: dict[str, Any] = {"host": broker_host, "port": mqtt_port, "reconnect_s": 0.2}
    if authenticated_broker:
        mqtt["password_file"] = str(folder / "hub-mqtt.secret")
    parts.append(_table("mqtt", mqtt))
    parts.append(_table("broker", {"conf_file": str(folder / "mosquitto-trygg.conf"),
                                   "dynsec_file": str(folder / "dynamic-security.json"),
                                   "listen_address": broker_host,
                                   # (the files of the password-file setup: none here)
                                   "password_file": str(folder / "mosquitto.passwd"),
                                   "acl_file": str(folder / "mosquitto.acl")}))
    parts.append(_table("discovery", {"enabled": False}))
    parts.append(_table("ingest", {"device_rate_per_s": 50.0, "device_burst": 200}))
    res: dict[str, Any] = {"id": "resident-1", "arc_account": arc_account,
                           "timezone": timezone}
    res.update(resident or {})
    parts.append("[[residents]]\n" + "\n".join(f"{k} = {_toml_value(v)}"
                                               for k, v in res.items()) + "\n")
    if thresholds:
        parts.append(_table("residents.thresholds", thresholds))
    if arc:
        receivers = arc.get("receivers", [])
        head = {k: v for k, v in arc.items() if k != "receivers"}
        parts.append(_table("arc", head))
        for r in receivers:
            parts.append("[[arc.receivers]]\n" + "\n".join(
                f"{k} = {_toml_value(v)}" for k, v in r.items()) + "\n")
    path = folder / "hub.toml"
    path.write_text("\n".join(parts))
    return path


def start_broker(folder: Path, port: int, host: str = "127.0.0.1") -> Any:
    """mosquitto with the configuration the hub writes (``trygg hub broker``), not started.

    ``host``: the address it listens on (loopback, or the LAN address real boards use in a
    hardware-in-the-loop run): the one given to ``write_hub_config(broker_host=...)``.
    """
    import os
    import subprocess
    import sys

    from trygg.hub import config as hub_config
    from trygg.tools.sim.mosquitto import Mosquitto

    config = folder / "hub.toml"
    cfg = hub_config.load(config)
    if (cfg.broker.listen_address, cfg.mqtt.port) != (host, port):
        raise ValueError(f"{config}: the broker listens on {cfg.broker.listen_address}:"
                         f"{cfg.mqtt.port}, not {host}:{port}: pass broker_host to "
                         "write_hub_config")
    # The hub writes the configuration and seeds the plugin's file (the broker is not running).
    subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "hub", "broker", "--config",
                    str(config)], check=True, capture_output=True, timeout=60)
    # As root, mosquitto drops to its own user, which cannot read a private temp folder.
    extra = ("user root",) if os.geteuid() == 0 else ()
    return Mosquitto(port, extra_config=extra, workdir=folder / "mosquitto", host=host,
                     broker_conf=Path(cfg.broker.conf_file))
