"""The wearer's cancel (a long press on the wearable button): the open assistance alarm that
button raised is resolved -- the centre receives a restore -- acknowledged or not; a call
made with another device stays open."""

from __future__ import annotations

from typing import Any

from trygg.hub.config import Resident
from trygg.hub.rules import (
    DeviceInfo,
    Event,
    RaiseAlarm,
    ResolveAlarm,
    RulesConfig,
    RulesEngine,
    State,
)
from trygg.hub.rules.model import HUB_ALARM_ACKNOWLEDGED

BUTTON, CALL_POINT = "b00000000001", "c00000000001"
T0 = 1_750_000_000.0


def _engine() -> RulesEngine:
    devices = {
        BUTTON: DeviceInfo(BUTTON, "button", None, "r1", 2, 3600.0, T0, cell="coin_cell"),
        CALL_POINT: DeviceInfo(CALL_POINT, "call_point", "bathroom", "r1", 3, 300.0, T0),
    }
    return RulesEngine(RulesConfig({"r1": Resident(id="r1", arc_account="1234")}, devices))


def _run(steps: list[tuple[str, str]]) -> list[tuple[str, str, str | None]]:
    """(device or "hub:<alarm of step n>", event) in order, one a minute: the raise and
    resolve actions, as (raise|resolve, kind, device)."""
    engine, state = _engine(), State()
    out: list[tuple[str, str, str | None]] = []
    raised: list[str] = []
    for i, (device, name) in enumerate(steps):
        t = T0 + 60 * i
        body: dict[str, Any]
        if device == "hub":
            body = {"type": "hub", "event": HUB_ALARM_ACKNOWLEDGED, "alarm_id": raised[-1]}
            ev = Event(i + 1, t, None, None, "r1", "hub", HUB_ALARM_ACKNOWLEDGED, None, None,
                       body)
        else:
            body = {"type": "event", "event": name, "uptime": i}
            ev = Event(i + 1, t, device, i, "r1", "event", name, None, None, body)
        for action in engine.step(state, ev, t)[1]:
            if isinstance(action, RaiseAlarm):
                raised.append(action.alarm_id)
                out.append(("raise", action.kind, action.device_id))
            elif isinstance(action, ResolveAlarm):
                out.append(("resolve", action.kind, action.device_id))
    return out


def test_a_cancel_resolves_the_call_its_button_made() -> None:
    assert _run([(BUTTON, "button"), (BUTTON, "cancel")]) == [
        ("raise", "assistance", BUTTON), ("resolve", "assistance", BUTTON)]


def test_a_cancel_after_the_centre_acknowledged_still_sends_the_restore() -> None:
    assert _run([(BUTTON, "button"), ("hub", "ack"), (BUTTON, "cancel")])[-1] == (
        "resolve", "assistance", BUTTON)


def test_a_cancel_leaves_a_call_made_with_another_device_open() -> None:
    assert _run([(CALL_POINT, "button"), (BUTTON, "cancel")]) == [
        ("raise", "assistance", CALL_POINT)]


def test_a_cancel_without_a_call_does_nothing() -> None:
    assert _run([(BUTTON, "cancel")]) == []
