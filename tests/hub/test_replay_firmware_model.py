"""The replay's firmware model says what the firmware says: the real motion role
(firmware/roles/motion.py) runs under MicroPython on a virtual clock, fed the same PIR trigger
instants, door edges and heartbeat moments as the model (hub/replay/firmware_model.py), and the
events, their values and the heartbeats' trigger counts must agree. When the motion firmware
changes (say, reporting motion seen during its hold-off at the end of it), this fails until
the model follows.

The harness stands in for the parts of the device around the role -- its clock, the HAL's pins
and the device's ``emit`` -- because the role is what is compared; the real device loop is
covered by tests/test_firmware_*.py on simulated boards.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from trygg.hub.replay import firmware_model
from trygg.hub.replay.recording import DeviceSpec, Observation

pytestmark = pytest.mark.micropython

HARNESS = """
import asyncio, json
from firmware.roles import motion
from hw.sim.hal import SimFlag

SCRIPT = json.loads(%r)
CFG = json.loads(%r)

class Clock:
    ms = 0
    def uptime_ms(self):
        return self.ms

class Pin:
    def __init__(self):
        self.level = 0
        self.handler = None
    def irq(self, handler, trigger):
        self.handler = handler
    def value(self):
        return self.level

class Hal:
    def __init__(self):
        self.pins = {}
    def flag(self):
        return SimFlag()
    def pin_in(self, name, pull=False):
        self.pins[name] = Pin()
        return self.pins[name]

class Device:
    def __init__(self):
        self.hal = Hal()
        self.cfg = CFG
        self.clock = Clock()
        self.out = []
    def emit(self, event, value=None):
        self.out.append([self.clock.ms, event, value])

async def main():
    dev = Device()
    role = motion.ROLE(dev)
    role.setup()
    asyncio.create_task(role.run())
    await asyncio.sleep_ms(0)
    for ms, kind, level, settle in SCRIPT:
        dev.clock.ms = ms
        if kind == "pir":
            pin = dev.hal.pins["pir"]
            pin.handler(pin)
        elif kind == "tick":  # the device's feeder loop, once a second
            role.tick()
        elif kind == "door":
            pin = dev.hal.pins["door"]
            pin.level = level
            pin.handler(pin)
            if settle:  # the role's debounce runs on the real clock: let it read the level,
                dev.clock.ms = settle  # at the virtual instant the debounce ends
                await asyncio.sleep_ms(80)
        else:
            msg = {}
            role.report(msg)
            dev.out.append([ms, "heartbeat", msg["triggers"]])
        for _ in range(4):
            await asyncio.sleep_ms(0)
    print("RESULT " + json.dumps(dev.out))

asyncio.run(main())
"""


def script(seed: int) -> list[tuple[int, str, int]]:
    """PIR triggers in bursts and lulls over two hours (ms), door edges, heartbeats, and the
    feeder's tick every second (after a trigger at the same instant, before a heartbeat)."""
    rng = random.Random(seed)
    # First a trigger exactly one hold-off after an event (it is sent), one inside it.
    items: list[tuple[int, str, int]] = [(1000, "pir", 0), (61_000, "pir", 0),
                                         (100_000, "pir", 0)]
    t = 200_000
    while t < 2 * 3600 * 1000 - 100_000:
        burst = rng.randint(1, 30)
        for _ in range(burst):
            if t % 300_000:  # not at a heartbeat's instant
                items.append((t, "pir", 0))
            t += rng.choice((2500, 4000, 9000, 20000, 45000, 61000))
        t += rng.choice((30_000, 59_000, 60_000, 90_000, 600_000))
    for k in range(1, 25):
        items.append((k * 300_000, "heartbeat", 0))
    for at, level in ((1_800_500, 1), (1_805_000, 0), (3_600_500, 1), (3_600_520, 0),
                      (3_600_530, 1), (3_700_500, 0)):
        items.append((at, "door", level))
    # Movement inside a hold-off just before the door opens: reported ahead of the door.
    items += [(1_770_000, "pir", 0), (1_790_000, "pir", 0), (1_800_200, "pir", 0),
              (1_800_400, "pir", 0)]
    items.sort()
    # One event per millisecond: a virtual instant holds one stimulus.
    out, seen = [], set()
    for it in items:
        if it[0] not in seen:
            seen.add(it[0])
            out.append(it)
    order = {"pir": 0, "door": 0, "tick": 1, "heartbeat": 2}
    out += [(k * 1000, "tick", 0) for k in range(1, 2 * 3600)]
    out.sort(key=lambda it: (it[0], order[it[1]]))
    return out


def model(items: list[tuple[int, str, int]], holdoff_s: int) -> list[list[Any]]:
    start = 0.0
    spec = DeviceSpec("5a0000000001", "motion", "hall", "r1", "observations",
                      heartbeat_s=300.0, firmware={"motion_holdoff_s": holdoff_s,
                                                   "door_contact": True}, paired_at=start)
    obs = [Observation(ms / 1000, spec.device_id, kind, bool(level) if kind == "door" else None)
           for ms, kind, level in items if kind in ("pir", "door")]
    out: list[list[Any]] = []
    for t, _seq, msg in firmware_model.frames(spec, obs, start, 2 * 3600.0):
        if msg["type"] == "event":
            out.append([round(t * 1000), msg["event"], msg.get("value")])
        elif msg["type"] == "heartbeat":
            out.append([round(t * 1000), "heartbeat", msg["triggers"]])
    return out


@pytest.mark.parametrize(("seed", "holdoff_s"), [(1, 60), (2, 60), (3, 10)])
def test_motion_model_sends_what_the_motion_firmware_sends(
        run_micropython: Any, seed: int, holdoff_s: int) -> None:
    items = script(seed)
    cfg = dict(firmware_model.firmware_defaults("motion"), motion_holdoff_s=holdoff_s,
               door_contact=True)
    # Door edges closer than the debounce reach the role before it reads the level; the
    # read is at the instant the model's debounce ends (the virtual clock is set to it).
    edges = [Observation(ms / 1000, "5a0000000001", "door", bool(level))
             for ms, kind, level in items if kind == "door"]
    reads = [round(t * 1000) for t, _ in firmware_model._debounced(edges, 0.05)]
    doors = [(ms, kind) for ms, kind, _ in items if kind == "door"]
    steps = []
    for ms, kind, level in items:
        settle = 0
        if kind == "door":
            k = doors.index((ms, kind))
            last_of_group = k + 1 == len(doors) or doors[k + 1][0] - ms >= 50
            if last_of_group:
                settle = next(r for r in reads if r >= ms)
        steps.append((ms, kind, level, settle))
    result = run_micropython(HARNESS % (json.dumps(steps), json.dumps(cfg)), timeout=120,
                             heapsize="4m")  # the stimulus script, not the role, needs it
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    firmware: list[list[Any]] = json.loads(line[len("RESULT "):])
    expected = model(items, holdoff_s)

    def motion_and_beats(rows: list[list[Any]]) -> list[list[Any]]:
        return [r for r in rows if r[1] in ("motion", "heartbeat")]

    def doors(rows: list[list[Any]]) -> list[str]:
        return [r[1] for r in rows if r[1].startswith("door")]

    assert motion_and_beats(firmware) == motion_and_beats(expected)
    assert doors(firmware) == doors(expected) == ["door_open", "door_close", "door_open",
                                                  "door_close"]
    held_back = [r for r in firmware if r[1] == "motion" and r[2] > 1]
    assert held_back  # the hold-off was exercised: events standing for several triggers
    # Motion counted before a door moved is reported just ahead of the door event.
    rows = [r for r in firmware if r[1] in ("motion", "door_open", "door_close")]
    assert any(a[1] == "motion" and b[1].startswith("door") and a[0] == b[0]
               for a, b in itertools.pairwise(rows))


def test_model_reads_the_firmware_defaults_not_copies() -> None:
    # Each role's own settings come from its firmware module's CONFIG, the common ones from
    # firmware/config.py; another role's settings are not there (the device refuses them).
    motion, bed = (firmware_model.firmware_defaults(r) for r in ("motion", "bed"))
    assert motion["motion_holdoff_s"] == 60
    assert motion["heartbeat_s"] == bed["heartbeat_s"] == 300
    assert motion["door_debounce_ms"] == 50
    assert (bed["bed_enter_s"], bed["bed_exit_s"], bed["sample_ms"]) == (10, 5, 200)
    assert "bed_enter_s" not in motion
    assert "motion_holdoff_s" not in bed
