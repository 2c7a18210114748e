"""`trygg arc listen --protocol ...` and `trygg hub test-alarm` for every protocol, run as a
technician runs them."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
from pathlib import Path

import pytest

from support.arc import HUB, arc_table, receiver
from support.hub import TRYGG, write_hub_toml
from trygg.hub.arc import protocols
from trygg.tools.cli.arc import CONSOLES
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.sos_access_console import SosAccessConsole

CODE, PASSWORD = "1234567", "hxp4x9nnwxjatv8"


def _auth(tmp_path: Path) -> Path:
    path = tmp_path / "sos-auth"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def _sos(name: str, port: int, auth: Path) -> dict[str, object]:
    return {"name": name, "host": "127.0.0.1", "port": port, "protocol": "sos-access",
            "transmitter_code": CODE, "transmitter_type": "TRYGG", "receiver_id": "42",
            "authentication_file": str(auth)}


async def test_hub_test_alarm_reaches_a_sos_access_console_and_a_dc09_receiver(
        tmp_path: Path) -> None:
    auth = _auth(tmp_path)
    sos_port, dc09_port = free_port(), free_port()
    config = write_hub_toml(tmp_path, None, arc=arc_table(_sos("sos", sos_port, auth),
                                                          receiver("dc09", dc09_port)))
    listen = await asyncio.create_subprocess_exec(
        *TRYGG, "arc", "listen", "--protocol", "sos-access", "--port", str(sos_port),
        "--transmitter", CODE, "--authentication-file", str(auth), "--count", "1",
        stdout=asyncio.subprocess.PIPE)
    assert listen.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert (await listen.stdout.readline()).startswith(b"listening on")
        async with ArcConsole(dc09_port, [(HUB, None)]) as centre:
            proc = await asyncio.create_subprocess_exec(
                *TRYGG, "hub", "test-alarm", "--config", str(config), "--json",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
            assert await centre.wait_until(lambda events: len(events) >= 1, 10)
        async with asyncio.timeout(30):
            printed, _ = await listen.communicate()
    finally:
        if listen.returncode is None:
            listen.kill()
            await listen.wait()
    assert proc.returncode == 0, err.decode()
    results = {r["receiver"]: r for r in json.loads(out)}
    assert (results["sos"]["protocol"], results["sos"]["ok"]) == ("sos-access", True)
    assert results["sos"]["detail"] == "status 0 OK"
    assert results["sos"]["wire_id"].startswith("reference T")
    assert (results["dc09"]["protocol"], results["dc09"]["ok"]) == ("dc09", True)
    line = printed.decode().splitlines()[-1]
    assert f"transmitter {CODE}" in line
    assert "TEST" in line
    assert "eventcode RX AL" in line
    assert PASSWORD not in printed.decode() + out.decode() + err.decode()


def test_every_protocol_has_a_console_named_by_the_cli() -> None:
    assert set(CONSOLES) == set(protocols.names())
    for name, module_name in CONSOLES.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_listen_arguments), name
        assert callable(module.listen), name


@pytest.mark.parametrize(("protocol", "extra", "says"), [
    ("sos-access", ("--answer", "busy"), "--answer 'busy': one of ok, not-treated, error "
     "[STATUS] or a status number (0, 1, 2"),
    ("sos-access", ("--answer", "42"), "--answer '42': one of ok"),
    ("dc09", ("--answer", "ok", "--account", "5678"), "--answer: the DC-09 console "
     "(pysiaalarm) acknowledges every message"),
])
def test_listen_refuses_an_answer_its_console_cannot_give(protocol: str, extra: tuple[str, ...],
                                                          says: str) -> None:
    result = subprocess.run([*TRYGG, "arc", "listen", "--protocol", protocol, "--port", "9",
                             *extra], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert says in result.stderr


async def test_sos_access_console_told_not_treated_makes_the_test_alarm_fail_with_status_5(
        tmp_path: Path) -> None:
    auth = _auth(tmp_path)
    port = free_port()
    config = write_hub_toml(tmp_path, None, arc=arc_table(_sos("sos", port, auth)))
    listen = await asyncio.create_subprocess_exec(
        *TRYGG, "arc", "listen", "--protocol", "sos-access", "--port", str(port),
        "--transmitter", CODE, "--authentication-file", str(auth), "--count", "1",
        "--answer", "not-treated", stdout=asyncio.subprocess.PIPE)
    assert listen.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert (await listen.stdout.readline()).startswith(b"listening on")
        proc = await asyncio.create_subprocess_exec(
            *TRYGG, "hub", "test-alarm", "--config", str(config), "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
            printed, _ = await listen.communicate()
    finally:
        if listen.returncode is None:
            listen.kill()
            await listen.wait()
    assert proc.returncode == 1, err.decode()
    (result,) = json.loads(out)
    assert result["ok"] is False
    assert result["detail"].endswith("status 5 NOT_TREATED_NOT_DISTRIBUTED")
    assert "status 5 NOT_TREATED_NOT_DISTRIBUTED" in printed.decode()


def test_listen_refuses_a_missing_option_naming_it() -> None:
    result = subprocess.run([*TRYGG, "arc", "listen", "--protocol", "sos-access", "--port",
                             "9"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "--transmitter" in result.stderr


async def test_rotate_authentication_stores_the_new_password_and_prints_neither(
        tmp_path: Path) -> None:
    auth = _auth(tmp_path)
    port = free_port()
    config = write_hub_toml(tmp_path, None, arc=arc_table(_sos("sos", port, auth)))
    async with SosAccessConsole(port, {CODE: PASSWORD}) as centre:
        proc = await asyncio.create_subprocess_exec(
            *TRYGG, "arc", "rotate-authentication", "--config", str(config), "--receiver",
            "sos", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    new = centre.credentials[CODE]
    assert auth.read_text().strip() == new != PASSWORD
    shown = out.decode() + err.decode()
    assert "status 0 OK" in shown
    assert new not in shown
    assert PASSWORD not in shown
