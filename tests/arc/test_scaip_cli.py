"""``trygg arc listen --protocol scaip``: the centre console as a technician runs it, through
a real kamailio, answering a hub's test alarm, changing its answer from standard input."""

from __future__ import annotations

import asyncio
import os
import subprocess

from support.arc import config
from support.hub import TRYGG
from support.scaip import CENTRE, CENTRE_PASSWORD, USERS, needs_sip, scaip_receiver
from trygg.hub.arc import run_test_alarm
from trygg.tools.sim.kamailio import Kamailio

pytestmark = needs_sip

WAIT = 20.0


async def _line(proc: asyncio.subprocess.Process, contains: str) -> str:
    """The first line of the console's output that contains ``contains``."""
    assert proc.stdout is not None
    async with asyncio.timeout(WAIT):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, f"the console exited before printing {contains!r}"
            if contains in line:
                return line


async def test_listen_answers_a_test_alarm_and_takes_a_new_answer_from_stdin() -> None:
    with Kamailio(USERS) as server:
        proc = await asyncio.create_subprocess_exec(
            *TRYGG, "arc", "listen", "--protocol", "scaip", "--host", server.host,
            "--port", str(server.port), "--user", CENTRE, "--hbi", "5",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=os.environ | {"TRYGG_SCAIP_PASSWORD": CENTRE_PASSWORD})
        assert proc.stdin is not None
        try:
            await _line(proc, "registered at udp://")
            cfg = config(scaip_receiver("arc", server.port))
            (ok,) = await run_test_alarm(cfg)
            line = await _line(proc, "TEST")
            assert ok.ok, ok.detail
            assert "snu 0" in ok.detail
            assert "0102 test (primary path)" in line
            assert "answered snu 0" in line

            proc.stdin.write(b"busy\n")
            await _line(proc, "now answering 'busy'")
            (busy,) = await run_test_alarm(cfg)
            assert not busy.ok
            assert "snu 6 busy" in busy.detail

            proc.stdin.write(b"busy 3\n")
            await _line(proc, "only hold and error take a number")  # a bad line is said, not fatal
        finally:
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), WAIT)
    assert proc.returncode == 0


def test_listen_without_a_password_says_where_to_put_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRYGG_SCAIP_PASSWORD"}
    result = subprocess.run([*TRYGG, "arc", "listen", "--protocol", "scaip", "--port", "5060"],
                            capture_output=True, text=True, env=env, timeout=WAIT, check=False)
    assert result.returncode == 2
    assert "set TRYGG_SCAIP_PASSWORD" in result.stderr


def test_listen_rejects_a_bad_answer() -> None:
    result = subprocess.run([*TRYGG, "arc", "listen", "--protocol", "scaip", "--port", "5060",
                             "--answer", "maybe"], capture_output=True, text=True,
                            timeout=WAIT, env=os.environ | {"TRYGG_SCAIP_PASSWORD": "x"},
                            check=False)
    assert result.returncode == 2
    assert "--answer 'maybe': one of ok, hold [N]" in result.stderr
