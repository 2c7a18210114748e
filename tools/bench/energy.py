"""`trygg bench energy`: battery life of the battery roles, from wakes measured on simulated
boards and the ESP32's datasheet currents.

Measured (per role, on the MicroPython unix port through the simulated ESP-NOW medium, the
bridge on a pty and `trygg hub run`): for each kind of wake -- an event, a heartbeat, a retry
(the bridge out of range), and the role's own (the motion sensor's re-arm after its hold-off,
the button's asks for the centre's acknowledgement) -- the time awake, the time with the
radio on, and the frames and bytes sent, as the firmware prints them before each deep sleep
(firmware/device.py, ``wake:``).

Not measurable here, so stated and settable: the ESP32's start from deep sleep (ROM and
second-stage bootloader, MicroPython's start-up, imports from the ROMFS image, and the
firmware's own work at the ESP32's speed rather than the host's), ``--boot-ms``. Measure it on
a real board (hw/rig: the time from the wake pin to the frame on the air) and pass it.

Model, per wake: ``boot_ms * I_cpu + (awake - radio) * I_cpu + radio * I_rx
+ airtime * (I_tx - I_rx)``; per day: the wakes of the day's events, heartbeats and the role's
own wakes, plus the sleep current over the rest of the day.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trygg.protocol.bridge import mac_for
from trygg.protocol.sequence import DEFAULT_STEP
from trygg.tools.sim.board import SimBoard
from trygg.tools.sim.espnow_home import BatteryHome
from trygg.tools.sim.espnow_medium import EspNowMedium

# ESP32 currents, from Espressif's "ESP32 Series Datasheet" (v4.x), section "RF Power
# Consumption Specifications" (Table "RF Power Consumption", 25 C, 3.3 V) and section "Power
# Consumption by Power Modes" (Table "Power Consumption by Power Modes"):
I_TX_MA = 240.0  # transmit 802.11b DSSS 1 Mbps at +19.5 dBm: 240 mA (ESP-NOW's default rate)
I_RX_MA = 100.0  # receive 802.11b/g/n: 95-100 mA; the radio listens whenever it is on
I_CPU_MA = 44.0  # modem-sleep, CPU at 160 MHz (MicroPython's default): 27-44 mA, the upper
I_SLEEP_UA = 10.0  # deep-sleep, RTC timer + RTC memory: 10 uA
# 802.11b at 1 Mbps (IEEE 802.11-2020 §16.2.2): 192 us long preamble and PLCP header, then
# 8 us a byte; an ESP-NOW frame adds a 24-byte MAC header, the vendor-specific action frame's
# 15 bytes and the 4-byte FCS to the payload (ESP-IDF, esp_now.h "Frame Format"); the
# receiver's 14-byte ACK comes back after SIFS (10 us), at the sender's receive current.
_PREAMBLE_US = 192
_US_PER_BYTE = 8
_ESPNOW_OVERHEAD_BYTES = 24 + 15 + 4
# Assumed start from deep sleep to the firmware running, at CPU current (see the docstring).
DEFAULT_BOOT_MS = 300.0
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class Cell:
    name: str
    mah: float
    usable: float  # fraction of the rated capacity this load can use
    why: str


CELLS = {
    "2xAA": Cell("2xAA lithium (Energizer L91)", 3000.0, 0.9,
                 "L91 datasheet: 3000 mAh; two in series stay at 3.0-3.6 V, inside the "
                 "ESP32-WROOM's 3.0-3.6 V, for nearly all of it (alkaline cells fall below "
                 "3.0 V for two at half their capacity: they need a boost converter)"),
    "CR2032": Cell("CR2032 (Energizer CR2032)", 235.0, 0.5,
                   "CR2032 datasheet: 235 mAh at a 190 uA drain; pulses of 100-240 mA "
                   "(the radio) through its 10-20 ohm internal resistance halve what can be "
                   "drawn, and its 3.0 V nominal is the WROOM's minimum: a boost converter "
                   "and a buffer (a supercapacitor; a 470 uF tantalum holds a wake for "
                   "milliseconds only) are needed whatever the budget says"),
}


@dataclass(frozen=True)
class RoleLoad:
    """A day of one battery role: what wakes it, quiet and busy."""

    cell: str
    events_quiet: float
    events_busy: float
    heartbeat_s: float
    sleep_extra_ua: float  # the role's own parts while the chip sleeps
    sleep_extra_why: str
    goal_years: float
    goal_day: str  # the day the goal is stated for: "quiet" or "busy"


LOADS = {
    "battery_motion": RoleLoad(
        "2xAA", 20, 200, 3600, 15.0 + 1.5,
        "AM312 PIR quiescent ~15 uA (datasheet), battery divider 1M/1M 1.5 uA", 2.0, "busy"),
    "battery_bed": RoleLoad(
        "2xAA", 4, 30, 3600, 0.08 + 1.5,
        "TLV3691 comparator 75 nA (datasheet), battery divider 1.5 uA", 2.0, "busy"),
    "button": RoleLoad(
        "CR2032", 10 / 30, 3, 3600, 1.5,
        "battery divider 1.5 uA (the 1M pull-up draws only while pressed)", 1.0, "quiet"),
}

_WAKE = re.compile(r"wake: awake (\d+) ms radio (\d+) ms tx (\d+) frames (\d+) bytes "
                   r"failed (\d+) outbox (\d+)(?: seqw (\d+))?")


@dataclass(frozen=True)
class Wake:
    awake_ms: int
    radio_ms: int
    frames: int
    bytes: int
    failed: int
    kinds: tuple[str, ...]  # what the wake sent: "event", "heartbeat", ... from its up: lines
    seq_writes: int = 0  # sequence-counter records written to flash (firmware/wake.py)


def wakes(board: SimBoard, after: int = 0) -> list[Wake]:
    """Every wake the board's console shows from line ``after``."""
    found: list[Wake] = []
    kinds: list[str] = []
    for line in board.lines[after:]:
        if line.startswith("up: seq"):
            kinds.append(line.split()[3])
        m = _WAKE.search(line)
        if m:
            a, r, f, b, fail, _, seqw = (int(x or 0) for x in m.groups())
            found.append(Wake(a, r, f, b, fail, tuple(kinds), seqw))
            kinds = []
    return found


def airtime_ms(frames: int, nbytes: int) -> float:
    return (frames * (_PREAMBLE_US + _ESPNOW_OVERHEAD_BYTES * _US_PER_BYTE)
            + nbytes * _US_PER_BYTE) / 1000


def wake_mas(w: Wake, boot_ms: float) -> float:
    """Charge of one wake in mA*s."""
    air = airtime_ms(w.frames, w.bytes)
    return (boot_ms * I_CPU_MA + max(0, w.awake_ms - w.radio_ms) * I_CPU_MA
            + w.radio_ms * I_RX_MA + air * (I_TX_MA - I_RX_MA)) / 1000


def _median_wake(ws: list[Wake]) -> dict[str, float]:
    return {"awake_ms": statistics.median(w.awake_ms for w in ws),
            "radio_ms": statistics.median(w.radio_ms for w in ws),
            "frames": statistics.median(w.frames for w in ws),
            "bytes": statistics.median(w.bytes for w in ws), "count": len(ws),
            "seq_writes": statistics.mean(w.seq_writes for w in ws)}


def _as_wake(m: dict[str, float]) -> Wake:
    return Wake(int(m["awake_ms"]), int(m["radio_ms"]), int(m["frames"]), int(m["bytes"]), 0,
                ())


def _wait_wakes(board: SimBoard, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(wakes(board)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("no wake line; console:\n" + "\n".join(board.lines[-30:]))
        time.sleep(0.05)


def _wait_asleep(board: SimBoard, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while board.asleep is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the board did not sleep; console:\n"
                               + "\n".join(board.lines[-30:]))
        time.sleep(0.02)


def measure(home: BatteryHome, role: str, events: int) -> dict[str, dict[str, float]]:
    """Wakes of one role, by kind, on a simulated board in ``home``."""
    # espnow_retry_s: the retry wake is measured once, not repeated during the run.
    # espnow_service_s: the power-up's service window (firmware/wake.py) is once per battery
    # swap, not part of a day; 3 s of it would shift the 4 s heartbeats against the stimuli
    # and change which measured wake carries a resent frame.
    settings: dict[str, Any] = {"heartbeat_s": 4, "espnow_retry_s": 3600, "espnow_service_s": 0}
    if role == "battery_motion":
        settings["motion_holdoff_s"] = 1
    elif role == "battery_bed":
        settings["bed_settle_ms"] = 0
    elif role == "button":
        settings.update(feedback_poll_s=2, feedback_window_s=3)
    board = home.add(role, **settings)
    _wait_wakes(board, 1)  # the power-up: hello, heartbeat, the hub's set_time
    by_kind: dict[str, list[Wake]] = {"event": [], "heartbeat": [], "retry": [], "own": []}

    def stimulus(i: int) -> None:
        if role == "battery_motion":
            board.control("pulse pir 50")
        elif role == "battery_bed":
            board.control(f"pin bed_occupied {1 - i % 2}")
        else:
            board.control("pin button 0")
            time.sleep(0.15)  # a short press
            board.control("pin button 1")

    for i in range(events):
        _wait_asleep(board)
        before = len(wakes(board))
        stimulus(i)
        _wait_wakes(board, before + 1)
        time.sleep(0.3)
    # The bridge out of range: an event that is not heard (a retry at the next wake).
    assert board.config is not None
    mac = bytes.fromhex(board.config["device_id"])
    home.medium.set_in_range(mac_for(mac), False)
    for attempt in range(3):  # bounded: a stimulus that lands in a wake is not a retry
        _wait_asleep(board)
        before = len(wakes(board))
        stimulus(events + attempt)
        _wait_wakes(board, before + 1)
        if any(w.failed for w in wakes(board)[before:]):
            break
    home.medium.set_in_range(mac_for(mac), True)
    # Heartbeats (and the role's own timer wakes) come by themselves.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ws = wakes(board)
        if sum(1 for w in ws[1:] if w.kinds == ("heartbeat",)) >= 2:
            break
        time.sleep(0.2)
    for w in wakes(board)[1:]:  # not the power-up (above)
        if w.failed:
            by_kind["retry"].append(w)
        elif "event" in w.kinds:
            by_kind["event"].append(w)
        elif w.kinds == ("heartbeat",):
            by_kind["heartbeat"].append(w)
        elif not w.kinds:
            by_kind["own"].append(w)
    board.close()
    return {k: _median_wake(v) for k, v in by_kind.items() if v}


def budget(role: str, measured: dict[str, dict[str, float]], boot_ms: float,
           busy: bool) -> dict[str, float]:
    load = LOADS[role]
    cell = CELLS[load.cell]
    events = load.events_busy if busy else load.events_quiet
    event_mas = wake_mas(_as_wake(measured["event"]), boot_ms)
    beat_mas = wake_mas(_as_wake(measured["heartbeat"]), boot_ms)
    own = measured.get("own")
    own_mas = wake_mas(_as_wake(own), boot_ms) if own else 0.0
    # The role's own wakes per event: the motion sensor re-arms once after each hold-off; the
    # button asks feedback_window_s / feedback_poll_s times after each call (defaults 300/10).
    own_per_event = {"battery_motion": 1.0, "button": 300 / 10}.get(role, 0.0)
    beats = 86400 / load.heartbeat_s
    active_mas = events * (event_mas + own_per_event * own_mas) + beats * beat_mas
    sleep_mas = (I_SLEEP_UA + load.sleep_extra_ua) / 1000 * 86400
    mah_day = (active_mas + sleep_mas) / 3600
    years = cell.mah * cell.usable / mah_day / 365
    # Flash writes of the sequence counter. Before it was kept through deep sleep, every wake
    # was a start and a start reserves a block (one record written); kept, a record is written
    # when the day's frames use up a block (DEFAULT_STEP numbers), or as measured if more.
    per_wake = {"event": events * (1 + own_per_event), "heartbeat": beats}
    wakes_day = sum(per_wake.values())
    frames_day = (events * (measured["event"]["frames"] + own_per_event
                            * (own["frames"] if own else 0))
                  + beats * measured["heartbeat"]["frames"])
    measured_writes = (events * (measured["event"]["seq_writes"] + own_per_event
                                 * (own["seq_writes"] if own else 0))
                       + beats * measured["heartbeat"]["seq_writes"])
    seq_writes = max(measured_writes, frames_day / DEFAULT_STEP)
    return {"events_per_day": events, "event_mas": round(event_mas, 2),
            "heartbeat_mas": round(beat_mas, 2), "own_wake_mas": round(own_mas, 2),
            "mah_per_day": round(mah_day, 4), "sleep_share": round(sleep_mas / 3600 / mah_day, 3),
            "years": round(years, 2), "goal_years": load.goal_years,
            "wakes_per_day": round(wakes_day, 1),
            "seq_flash_writes_per_day_before": round(wakes_day, 1),
            "seq_flash_writes_per_day": round(seq_writes, 2),
            "meets_goal": years >= load.goal_years,
            "goal_day": load.goal_day == ("busy" if busy else "quiet")}


def run(events: int = 5, boot_ms: float = DEFAULT_BOOT_MS) -> int:
    out: dict[str, Any] = {"bench": "energy", "boot_ms_assumed": boot_ms,
                           "currents_ma": {"tx": I_TX_MA, "rx": I_RX_MA, "cpu": I_CPU_MA,
                                           "deep_sleep": I_SLEEP_UA / 1000},
                           "roles": {}}
    with tempfile.TemporaryDirectory(prefix="trygg-bench-energy-") as tmp, \
            EspNowMedium() as medium:
        home = BatteryHome(Path(tmp), medium=medium).start()
        try:
            for role in LOADS:
                measured = measure(home, role, events)
                figures: dict[str, Any] = {"measured": measured,
                                           "cell": CELLS[LOADS[role].cell].name}
                for day in ("quiet", "busy"):
                    figures[day] = budget(role, measured, boot_ms, day == "busy")
                out["roles"][role] = figures
        finally:
            home.close()
    print(f"ESP32 currents (ESP32 Series Datasheet): TX {I_TX_MA:g} mA, RX {I_RX_MA:g} mA, "
          f"CPU {I_CPU_MA:g} mA, deep sleep {I_SLEEP_UA:g} uA; start from deep sleep "
          f"{boot_ms:g} ms (assumed, --boot-ms)")
    for role, figures in out["roles"].items():
        m = figures["measured"]
        print(f"\n{role} on {figures['cell']}")
        for kind, w in m.items():
            print(f"  {kind:9} wake: awake {w['awake_ms']:6.0f} ms, radio {w['radio_ms']:6.0f} "
                  f"ms, {w['frames']:.0f} frames, {w['bytes']:.0f} bytes (n={w['count']})")
        for day in ("quiet", "busy"):
            b = figures[day]
            print(f"  {day:5} day ({b['events_per_day']:g} events): {b['mah_per_day']:.3f} "
                  f"mAh/day (sleep {b['sleep_share']:.0%}), {b['years']:.1f} years "
                  + (f" (goal {b['goal_years']:g} years: "
                     f"{'met' if b['meets_goal'] else 'NOT met'})" if b["goal_day"] else ""))
            print(f"        sequence counter flash writes: {b['seq_flash_writes_per_day']:g}/day "
                  f"(kept through deep sleep; one a wake before: "
                  f"{b['seq_flash_writes_per_day_before']:g}/day)")
    print(json.dumps(out))
    return 0
