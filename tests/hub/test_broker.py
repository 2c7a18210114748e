"""What the hub writes for mosquitto (the dynamic-security plugin's file) and the pairing CLI.
What a real mosquitto enforces with it is in tests/hub/test_broker_hostile.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from trygg.hub import broker
from trygg.hub import config as hub_config
from trygg.hub.store import Store
from trygg.tools.cli import main as cli
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port

DEV_A, DEV_B = "a1b2c3d4e5f6", "0a0b0c0d0e0f"
KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))


def test_password_hash_is_the_one_mosquitto_ctrl_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_ctrl")
    if tool is None:
        pytest.skip("mosquitto_ctrl not installed (Debian package mosquitto)")
    path = tmp_path / "dynsec.json"
    subprocess.run([tool, "dynsec", "init", str(path), "someone", "s3cret"], check=True,
                   capture_output=True)
    written = json.loads(path.read_text())["clients"][0]
    ours = broker.password_fields("s3cret", base64.b64decode(written["salt"]),
                                  written["iterations"])
    assert ours["password"] == written["password"]
    assert broker.password_fields("s3cres", base64.b64decode(written["salt"]),
                                  written["iterations"])["password"] != written["password"]


def test_the_plugins_file_holds_no_password_and_only_the_broker_may_read_it(
        tmp_path: Path) -> None:
    path = tmp_path / "etc" / "dynamic-security.json"
    hub_secret = broker.new_password()
    hub = broker.HubLogins(broker.HUB_USER, hub_secret, "hub-1")
    broker.write_dynsec_file(path, hub, [(DEV_A, KEY_A), (DEV_B, KEY_B)], "mosquitto")
    # owner, and the broker's group (it rewrites the file); nobody else
    assert stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o660)
    text = path.read_text()
    for secret in (hub_secret, hub.admin_password, broker.device_password(KEY_A), KEY_A.hex()):
        assert secret not in text
    doc = json.loads(text)
    assert doc["defaultACLAccess"] == {"publishClientSend": False,
                                       "publishClientReceive": False, "subscribe": False,
                                       "unsubscribe": True}
    clients = {c["username"]: c for c in doc["clients"]}
    assert clients[DEV_A]["clientid"] == f"trygg-{DEV_A}"
    # The hub's service and its tools: two logins, each bound to its one client id.
    assert clients[broker.HUB_USER]["clientid"] == "trygg-hub-hub-1"
    assert clients[hub.admin_user]["clientid"] == "trygg-admin-hub-1"
    assert hub_secret not in repr(hub)
    with pytest.raises(ValueError, match="12 lowercase hex"):
        broker.dynsec_document(hub, [("../etc", KEY_A)])


def test_pair_cli_writes_key_and_broker_files_owner_only_and_prints_no_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "home"
    config = write_hub_config(folder, mqtt_port=free_port())
    cfg = hub_config.load(config)
    with start_broker(folder, cfg.mqtt.port):
        key_file = tmp_path / "bath.key"
        assert cli.main(["hub", "pair", "--config", str(config), DEV_A, "--role", "motion",
                         "--room", "bathroom", "--new-key-file", str(key_file)]) == 0
        key = key_file.read_text().strip()
        out = capsys.readouterr()
        assert key not in out.out + out.err
        for path in (key_file, Path(cfg.database), Path(cfg.mqtt.password_file)):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        for path in (Path(cfg.broker.conf_file), Path(cfg.broker.dynsec_file)):
            assert stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o640, 0o660), path
        assert cli.main(["hub", "devices", "--config", str(config), "--json"]) == 0
        listing = capsys.readouterr().out
        assert DEV_A in listing
        assert key not in listing
        assert '"key"' not in listing
        # hostile CLI input: a clear error, no traceback
        assert cli.main(["hub", "pair", "--config", str(config), "nothex", "--role", "motion",
                         "--new-key-file", str(tmp_path / "x.key")]) == 2
        assert "12 hex digits" in capsys.readouterr().err
    # The broker is down: pairing changes nothing and says what to do.
    assert cli.main(["hub", "pair", "--config", str(config), DEV_B, "--role", "bed",
                     "--new-key-file", str(tmp_path / "b.key")]) == 2
    err = capsys.readouterr().err
    for words in ("not reachable", "start mosquitto", "nothing was changed"):
        assert words in err
    assert not (tmp_path / "b.key").exists()
    with Store(cfg.database) as store:
        assert [d.device_id for d in store.devices()] == [DEV_A]


def test_the_shipped_broker_configuration_is_what_trygg_hub_broker_writes() -> None:
    """hub/mosquitto-trygg.conf shows the configuration for the default [broker] settings on a
    Raspberry Pi (64-bit); `trygg hub broker` writes it for the installation at hand."""
    b, m = hub_config.BrokerConfig(), hub_config.MqttConfig()
    settings = broker.BrokerSettings(
        port=m.port, listen_address=b.listen_address, dynsec_file=b.dynsec_file,
        plugin="/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
        max_queued_messages=b.max_queued_messages, session_expiry_days=b.session_expiry_days)
    shipped = Path(__file__).resolve().parents[2] / "hub" / "mosquitto-trygg.conf"
    assert shipped.read_text() == broker.broker_conf_text(settings, "/etc/trygg/hub.toml")


def test_re_keying_with_the_broker_down_changes_nothing_and_keeps_the_device(
        tmp_path: Path) -> None:
    """Provisioning a board again re-keys its device in pair_device itself: the broker first,
    then the database. With the broker down it fails saying so, and the hub keeps the device
    with the key the broker (and the board) still have -- not a database without it."""
    from trygg.hub.pairing import PairingError, pair_device

    folder = tmp_path / "home"
    config = write_hub_config(folder, mqtt_port=free_port())
    cfg = hub_config.load(config)
    with start_broker(folder, cfg.mqtt.port), Store(cfg.database) as store:
        pair_device(cfg, store, DEV_A, "motion", "hall", KEY_A)
        store.store_frames([], {DEV_A: (4, 0b11111)}, {})  # heard: a replay window
    with Store(cfg.database) as store:
        with pytest.raises(PairingError, match=r"not reachable.*nothing was changed"):
            pair_device(cfg, store, DEV_A, "motion", "hall", KEY_B, replace=True)
        device = store.device(DEV_A)
        assert device is not None
        assert (device.key, device.zone, device.replay_highest) == (KEY_A, 1, 4)
