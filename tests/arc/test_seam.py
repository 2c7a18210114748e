"""The seam between forwarder and protocols: a fourth protocol is one module (here
``tests/support/toy_protocol.py``) plus its registration, and the forwarder acts on its verdicts
alone: failover to a second path in another protocol (DC-09, pysiaalarm), resend of the same
message, holding one report back without blocking the queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from support.arc import HUB, RESIDENT, config, receiver, report
from trygg.hub.arc import ArcConfigError, ArcForwarder, load_arc_config, protocols
from trygg.tools.sim.arc_console import ArcConsole
from trygg.tools.sim.mosquitto import free_port

WAIT = 10.0


@pytest.fixture(autouse=True)
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(protocols.REGISTERED, "toy", "support.toy_protocol")


Answer = Callable[[list[str]], str]


class ToyCentre:
    """The receiving end of the toy protocol: records each line, answers with ``answer``."""

    def __init__(self, port: int, answer: Answer) -> None:
        self.port = port
        self.answer = answer
        self.lines: list[list[str]] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ToyCentre:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        words = (await reader.readline()).decode().split()
        self.lines.append(words)
        writer.write(self.answer(words).encode() + b"\n")
        await writer.drain()
        writer.close()


def toy(name: str, port: int) -> dict[str, object]:
    return receiver(name, port, protocol="toy", receiver_number=None)


def test_receiver_names_its_protocol_and_the_protocol_reads_its_own_keys() -> None:
    cfg = config(toy("a", 1) | {"greeting": "hej"}, receiver("b", 2))
    assert [(r.protocol, type(r).__name__) for r in cfg.receivers] == [
        ("toy", "ToyReceiver"), ("dc09", "Dc09Receiver")]
    with pytest.raises(ArcConfigError, match=r"\[arc\].receivers\[0\].format: unknown key"):
        config(toy("a", 1) | {"format": "SIA-DCS"})  # a DC-09 key on a toy receiver
    with pytest.raises(ArcConfigError, match=r"receivers\[0\].protocol: 'scaipp' \(one of"):
        load_arc_config({"account": HUB, "receivers": [
            {"name": "x", "host": "h", "port": 1, "protocol": "scaipp"}]})


async def test_failover_verdict_sends_the_report_over_the_second_path_in_another_protocol(
        tmp_path: Path) -> None:
    toy_port, dc09_port = free_port(), free_port()
    cfg = config(toy("toy", toy_port), receiver("dc09", dc09_port))
    delivered: dict[str, str] = {}
    async with ToyCentre(toy_port, lambda w: f"ELSEWHERE {w[1]}") as centre, \
            ArcConsole(dc09_port, [(RESIDENT, None), (HUB, None)]) as second, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite", on_delivery=lambda a, e, r, ok, d:
                         delivered.update({a: r}) if ok else None) as fwd:
        await fwd.submit(report("fire", alarm_id="fire-1", zone=4))
        assert await fwd.wait_drained(WAIT)
        assert fwd.link_states() == {"toy": True, "dc09": True}  # it answered: not a failure
    assert delivered == {"fire-1": "dc09"}
    assert [w[:4] for w in centre.lines] == [["ALARM", "1", "fire", "raised"]]
    (fire,) = second.alarms()
    assert (fire.code, fire.zone, fire.sequence) == ("FA", 4, 1)  # the same message number


async def test_resend_verdict_repeats_the_same_message_number(tmp_path: Path) -> None:
    port = free_port()
    answers = iter(["AGAIN {} 0.05", "AGAIN {} 0", "OK {}"])
    cfg = config(toy("toy", port), nak_resend_limit=5)
    async with ToyCentre(port, lambda w: next(answers).format(w[1])) as centre, \
            ArcForwarder(cfg, tmp_path / "arc.sqlite") as fwd:
        await fwd.submit(report("assistance"))
        assert await fwd.wait_drained(WAIT)
    assert [w[1] for w in centre.lines] == ["1", "1", "1"]


async def test_hold_back_verdict_delays_one_report_not_the_queue(tmp_path: Path) -> None:
    port = free_port()
    held: set[str] = set()

    def answer(words: list[str]) -> str:
        if words[2] == "fire" and "fire" not in held:
            held.add("fire")
            return f"LATER {words[1]}"
        return f"OK {words[1]}"

    async with ToyCentre(port, answer) as centre, \
            ArcForwarder(config(toy("toy", port)), tmp_path / "arc.sqlite") as fwd:
        await fwd.submit(report("fire"))
        await fwd.submit(report("missed_dose"))
        assert await fwd.wait_drained(WAIT)
    assert [w[2] for w in centre.lines] == ["fire", "missed_dose", "fire"]
