"""The hub's mosquitto password and ACL files, enforced by a real mosquitto: a device publishes
only as itself and reads only its own downlink; the hub reads every uplink."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from trygg.hub import broker
from trygg.tools.cli import main as cli
from trygg.tools.sim.mosquitto import Mosquitto

DEV_A, DEV_B = "a1b2c3d4e5f6", "0a0b0c0d0e0f"
KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))
WAIT_S = 10.0


def test_password_hash_is_the_format_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd not installed (Debian package mosquitto)")
    path = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(path), "someone", "s3cret"], check=True)
    encoded = path.read_text().strip().split(":", 1)[1]
    assert encoded.startswith("$7$")
    assert broker.verify_password("s3cret", encoded)
    assert not broker.verify_password("s3cres", encoded)
    assert broker.hash_password("x").startswith(f"$7${broker.PBKDF2_ITERATIONS}$")


async def test_broker_files_let_a_device_publish_only_as_itself(tmp_path: Path) -> None:
    pw, acl = tmp_path / "etc" / "passwd", tmp_path / "etc" / "acl"
    hub_secret = broker.new_password()
    broker.write_broker_files(pw, acl, hub_secret, [(DEV_A, KEY_A), (DEV_B, KEY_B)])
    for path in (pw, acl):  # owner, and the broker's group read-only; nobody else
        assert stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o640)
    assert hub_secret not in pw.read_text()

    # As root, mosquitto would drop to its own user, which cannot enter pytest's 0700 temp
    # folders; on the Pi the files live in /etc/mosquitto/trygg with group mosquitto.
    with Mosquitto(password_file=pw, acl_file=acl, extra_config=("user root",)) as mq:
        def client(user: str, password: str) -> aiomqtt.Client:
            return aiomqtt.Client(mq.host, mq.port, username=user, password=password,
                                  identifier=f"t-{user}")

        async with client(broker.HUB_USER, hub_secret) as hub, \
                client(DEV_A, broker.device_password(KEY_A)) as dev_a, \
                client(DEV_B, broker.device_password(KEY_B)) as dev_b:
            await hub.subscribe("trygg/+/up", qos=1)
            await dev_a.subscribe("trygg/+/down", qos=1)  # asks for all; gets its own only
            await dev_a.publish(f"trygg/{DEV_B}/up", b"forged", qos=1)  # as another device
            await dev_a.publish(f"trygg/{DEV_A}/down", b"self-command", qos=1)  # not its topic
            await dev_a.publish(f"trygg/{DEV_A}/up", b"marker-a", qos=1)
            await dev_b.publish(f"trygg/{DEV_B}/up", b"marker-b", qos=1)
            got: list[tuple[str, bytes]] = []
            async with asyncio.timeout(WAIT_S):
                async for m in hub.messages:
                    assert isinstance(m.payload, bytes)
                    got.append((m.topic.value, m.payload))
                    if len(got) == 2:
                        break
            # The same client's publishes arrive in order: the forged one would come first.
            assert sorted(got) == sorted([(f"trygg/{DEV_A}/up", b"marker-a"),
                                          (f"trygg/{DEV_B}/up", b"marker-b")])
            await hub.publish(f"trygg/{DEV_B}/down", b"for-b", qos=1)
            await hub.publish(f"trygg/{DEV_A}/down", b"for-a", qos=1)
            async with asyncio.timeout(WAIT_S):
                async for m in dev_a.messages:
                    assert (m.topic.value, m.payload) == (f"trygg/{DEV_A}/down", b"for-a")
                    break

        with pytest.raises(aiomqtt.MqttError):
            async with client(DEV_A, "wrong password"):
                pass


def test_pair_cli_writes_key_and_broker_files_owner_only_and_prints_no_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f"""
[hub]
id = "hub-1"
database = "hub.db"
[mqtt]
password_file = "{tmp_path / 'hub-mqtt.secret'}"
[broker]
password_file = "{tmp_path / 'passwd'}"
acl_file = "{tmp_path / 'acl'}"
[[residents]]
id = "r1"
arc_account = "1234"
""")
    key_file = tmp_path / "bath.key"
    assert cli.main(["hub", "pair", "--config", str(config), DEV_A, "--role", "motion",
                     "--room", "bathroom", "--new-key-file", str(key_file)]) == 0
    key = key_file.read_text().strip()
    out = capsys.readouterr()
    assert key not in out.out + out.err
    for path in (key_file, tmp_path / "hub.db", tmp_path / "hub-mqtt.secret"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for path in (tmp_path / "passwd", tmp_path / "acl"):
        assert stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o640), path
    assert f"topic write trygg/{DEV_A}/up" in (tmp_path / "acl").read_text()
    assert cli.main(["hub", "devices", "--config", str(config), "--json"]) == 0
    listing = capsys.readouterr().out
    assert DEV_A in listing
    assert key not in listing
    assert '"key"' not in listing
    # hostile CLI input: a clear error, no traceback
    assert cli.main(["hub", "pair", "--config", str(config), "nothex", "--role", "motion",
                     "--new-key-file", str(tmp_path / "x.key")]) == 2
    assert "12 hex digits" in capsys.readouterr().err
