"""``trygg demo``: a simulated home on this machine, end to end, in a few minutes.

Starts on loopback: mosquitto with the hub's password and ACL files, the hub
(``trygg hub run``, demo-profile thresholds), an alarm receiving centre and one home --
bedroom, bathroom, kitchen, hallway -- whose devices are real firmware on simulated
boards, each brought up through the technician's path: a fresh board on a
pseudo-terminal, flashed with Trygg's production image (the packages in ROMFS,
the ESP32's 110 KB heap), ``trygg provision`` over its serial REPL. The resident's
wearable alarm button is a battery device on ESP-NOW: its frames cross the simulated air
(tools/sim/espnow_medium.py) to the bridge, a board on the hub's serial port (a pty the hub
reads with pyserial, as /dev/ttyUSB0). Then it plays the scenarios, printing a live
timeline (device events, the hub's alarms, what the centre's console shows with latencies,
what the wearer's button shows) and a summary; ``--json`` prints one machine-readable summary
instead.

The centre (tools/sim/centre.py) speaks SCAIP by default, the protocol of the Nordic
municipal social-alarm centres: the SCAIP console behind a real kamailio, the SIP registrar
and proxy that authenticates the hub with Digest. ``--centre dc09`` makes it pysiaalarm (SIA
DC-09), ``--centre sos-access`` the SOS Access v4 console.

Latency: from the hub's raise (the alarm's ``raised_at`` in its store, sub-second) to the
alarm's arrival at the console, and from the first stimulus of the scenario.

Demo profile: the hub runs with ``demo_profile = true`` and fall thresholds of
about 15 seconds (a real home uses 15 to 40 minutes), the night window is put
around the current time, and the dispenser's window is one minute, so that the
whole run takes minutes rather than a night.
"""

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trygg.hub import roles
from trygg.tools.sim.board import SimBoard
from trygg.tools.sim.centre import DEFAULT as DEFAULT_CENTRE
from trygg.tools.sim.centre import PROTOCOLS as CENTRE_PROTOCOLS
from trygg.tools.sim.centre import Arrival, Centre
from trygg.tools.sim.espnow_home import add_bridge_section, battery_board, start_bridge
from trygg.tools.sim.espnow_medium import EspNowMedium
from trygg.tools.sim.home import start_broker, write_hub_config
from trygg.tools.sim.mosquitto import free_port
from trygg.tools.sim.processes import end_process
from trygg.tools.sim.pty import PtyBoard

TIMEZONE = "Europe/Oslo"
RESIDENT_ACCOUNT = "1234"
HUB_ACCOUNT = "9999"
FALL_THRESHOLD_MIN = 0.25  # 15 s in the demo; 15-40 min in a real home
DEMO_THRESHOLDS = {"bed_exit_return_min": FALL_THRESHOLD_MIN,
                   "night_no_motion_min": FALL_THRESHOLD_MIN,
                   "bathroom_no_motion_min": FALL_THRESHOLD_MIN,
                   # what the demo's minutes teach the routine must not lengthen the limits
                   "still_floor_min": FALL_THRESHOLD_MIN, "learn_margin_min": 0,
                   "dose_window_min": 1.5}
# Each board gets those of its role (and the common ones).
DEVICE_TUNABLES = {"motion_holdoff_s": 2, "bed_enter_s": 1, "bed_exit_s": 1,
                   "dose_window_min": 1, "reminder_step_s": 10,
                   # a frame the hub did not ack (e.g. the first hello, sent before the hub
                   # loaded the new key) is resent after 3 s instead of 30 s
                   "resend_s": 3}
IN_BED, OUT_OF_BED = 40000, 2000  # pressure mat ADC levels (thresholds 24000 / 16000)
ALARM_WAIT_S = 60.0
DOSE_LEAD_S = 20  # at least this long between scheduling the demo's dose and its minute
SCENARIO_ORDER = ("quiet-day", "smoke", "missed-dose", "bathroom-fall", "night-fall",
                  "button-call")
# (role, room) of every device in the home
HOME = (("bed", "bedroom"), ("motion", "bathroom"), ("motion", "kitchen"),
        ("motion", "hallway"), ("smoke", "kitchen"), ("dispenser", "kitchen"))
BRIDGE_ROOM = "hallway"
WEARER_ROOM = "bedroom"  # where the hub files the wearable button (it goes where she goes)
# The wearable button: after a call it asks the bridge for the hub's feedback every 2 s (10 s
# by default) for up to a minute; a frame the hub did not ack (the hello sent before the hub
# reloaded its devices) goes again after 3 s instead of 30 s.
BUTTON_TUNABLES = {"heartbeat_s": 3600, "feedback_poll_s": 2, "feedback_window_s": 60,
                   "espnow_retry_s": 3}
BRIDGE_HEARTBEAT_S = 30  # as the Wi-Fi devices'
HELLO_WAIT_S = 60.0  # a refused first hello goes again after espnow_retry_s
PRESS_S = 0.2  # a short press: a call (a press held cancel_press_ms, 3 s, is a cancel)

# scenario -> (the alarms the centre must receive, the restores it must receive, the Demo
# method that plays it). Exactly these: anything else at the centre fails the scenario.
SCENARIOS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "quiet-day": ((), (), "quiet_day"),
    "smoke": (("fire",), ("fire",), "smoke"),
    "missed-dose": (("missed_dose",), (), "missed_dose"),
    "bathroom-fall": (("possible_fall",), (), "bathroom_fall"),
    "night-fall": (("possible_fall",), (), "night_fall"),
    "button-call": (("assistance",), (), "button_call"),
}
# scenario -> the feedback the wearer's button must show, in this order (its console lines
# "button: feedback <what>"): the hub has stored the call, then the centre acknowledged it.
FEEDBACK_AT_WEARER: dict[str, tuple[str, ...]] = {"button-call": ("received", "acknowledged")}



@dataclass
class Device:
    role: str
    room: str
    board: PtyBoard
    device_id: str = ""
    zone: int = 0


@dataclass
class ScenarioResult:
    name: str
    expected: tuple[str, ...]
    expected_restores: tuple[str, ...]
    alarms: list[dict[str, Any]] = field(default_factory=list)
    restores: list[dict[str, Any]] = field(default_factory=list)
    passed: bool = False
    seconds: float = 0.0
    expected_feedback: tuple[str, ...] = ()
    feedback: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, workdir: Path, *, as_json: bool, centre: str = DEFAULT_CENTRE) -> None:
        self.workdir = workdir
        self.as_json = as_json
        self.centre_protocol = centre
        self.t0 = time.monotonic()
        self.devices: dict[tuple[str, str], Device] = {}
        self.hub_proc: subprocess.Popen[bytes] | None = None
        self.arc_events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._seen_wire: set[tuple[str, str | None]] = set()
        self.retransmissions = 0
        self.config_path = workdir / "hub" / "hub.toml"
        self._seen_event_id = 0
        self._seen_alarms: dict[str, str] = {}
        self._stimulus_at: float | None = None
        self._mark = 0  # index into arc_events where the current scenario began
        self.medium: EspNowMedium | None = None
        self.bridge_board: PtyBoard | None = None
        self.bridge_id = ""
        self.button: SimBoard | None = None
        self.button_id = ""
        self.feedback: list[str] = []  # what the wearer's button has shown, in order
        self._feedback_mark = 0
        self._fed_back = asyncio.Event()

    # -- output -------------------------------------------------------------------------

    def say(self, what: str, text: str) -> None:
        if not self.as_json:
            print(f"{time.monotonic() - self.t0:7.1f}s  {what:8} {text}", flush=True)

    # -- setting up the home ---------------------------------------------------------------

    def write_config(self, mqtt_port: int, receiver: dict[str, Any]) -> None:
        now = dt.datetime.now(zoneinfo.ZoneInfo(TIMEZONE))
        # The night window around now, so the night-fall rule applies whenever the demo runs.
        night_start = (now - dt.timedelta(hours=1)).strftime("%H:%M")
        night_end = (now + dt.timedelta(hours=3)).strftime("%H:%M")
        write_hub_config(
            self.config_path.parent, mqtt_port=mqtt_port, hub_id="demo-home", tick_s=1.0,
            timezone=TIMEZONE, arc_account=RESIDENT_ACCOUNT, thresholds=DEMO_THRESHOLDS,
            resident={"night_start": night_start, "night_end": night_end},
            arc={"account": HUB_ACCOUNT, "receivers": [receiver]})
        text = self.config_path.read_text().replace('tick_s = 1.0\n',
                                                    'tick_s = 1.0\ndemo_profile = true\n')
        self.config_path.write_text(text)
        if self.bridge_board is not None:
            add_bridge_section(self.config_path, self.bridge_board)

    def start_hub(self) -> None:
        log = (self.workdir / "hub.log").open("wb")
        self.hub_proc = subprocess.Popen(
            [sys.executable, "-m", "trygg.tools.cli.main", "hub", "run", "--config",
             str(self.config_path), "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    async def provision_all(self, mqtt_port: int) -> None:
        for role, room in HOME:
            board = PtyBoard(self.workdir / f"{role}-{room}", romfs=True)
            await asyncio.to_thread(board.start)
            device = Device(role, room, board)
            self.devices[(role, room)] = device
            args = [sys.executable, "-m", "trygg.tools.cli.main", "provision", "--port", board.port,
                    "--role", role, "--room", room, "--config", str(self.config_path), "--hub",
                    f"127.0.0.1:{mqtt_port}", "--heartbeat-s", "30", "--wait-online", "60",
                    "--json"]
            foreign = roles.foreign_settings(role)  # a device refuses another role's settings
            for name, value in DEVICE_TUNABLES.items():
                if name not in foreign:
                    args += ["--set", f"{name}={value}"]
            proc = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True,
                                           timeout=180, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise RuntimeError(f"provisioning the {role} in the {room} failed: "
                                   f"{proc.stderr.strip()}")
            result = json.loads(proc.stdout)
            device.device_id, device.zone = result["device_id"], result["zone"]
            self.say("device", f"{role:9} {room:9} provisioned over {board.port}: id "
                     f"{device.device_id}, zone {device.zone}, online={result['online']}")

    async def pair_wearable(self) -> None:
        """The bridge on the hub's serial port, then the resident's button on the air."""
        from trygg.hub import config as hub_config

        assert self.medium is not None
        assert self.bridge_board is not None
        cfg = hub_config.load(self.config_path)
        self.bridge_id = await asyncio.to_thread(
            start_bridge, cfg, self.bridge_board, self.medium, BRIDGE_ROOM,
            heartbeat_s=BRIDGE_HEARTBEAT_S, resend_s=DEVICE_TUNABLES["resend_s"])
        await self.wait_stored(self.bridge_id, "hello")
        self.say("device", f"{'bridge':9} {BRIDGE_ROOM:9} on the hub's serial port "
                 f"{self.bridge_board.port}: id {self.bridge_id}, online=True")
        button = await asyncio.to_thread(battery_board, cfg, "button", WEARER_ROOM,
                                         self.bridge_id, self.medium,
                                         workdir=self.workdir / "button-wearer",
                                         **BUTTON_TUNABLES)
        self.button = button
        self.button_id = str(button.config["device_id"]) if button.config else ""
        await asyncio.to_thread(button.start)
        await self.wait_stored(self.button_id, "hello")
        self.say("device", f"{'button':9} {'(worn)':9} over ESP-NOW through the bridge: id "
                 f"{self.button_id}, zone {self._zone(self.button_id)}, online=True")

    def _stored(self, device_id: str, name: str) -> bool:
        from trygg.hub import config as hub_config
        from trygg.hub.store import Store

        store = Store(hub_config.load(self.config_path).database)
        try:
            return store.conn.execute(
                "SELECT 1 FROM events WHERE device_id = ? AND (type = ? OR name = ?) LIMIT 1",
                (device_id, name, name)).fetchone() is not None
        finally:
            store.close()

    def _zone(self, device_id: str) -> int:
        from trygg.hub import config as hub_config
        from trygg.hub.store import Store

        store = Store(hub_config.load(self.config_path).database)
        try:
            device = store.device(device_id)
            return 0 if device is None else int(device.zone)
        finally:
            store.close()

    async def wait_stored(self, device_id: str, name: str,
                          within: float = HELLO_WAIT_S) -> None:
        deadline = time.monotonic() + within
        while not await asyncio.to_thread(self._stored, device_id, name):
            if time.monotonic() > deadline:
                raise RuntimeError(f"device {device_id}: no {name} stored by the hub within "
                                   f"{within:.0f} s (see hub.log)")
            await asyncio.sleep(0.3)

    # -- stimuli ---------------------------------------------------------------------------

    def first_stimulus(self) -> float | None:
        """When the current scenario first touched a device (None: not yet)."""
        return self._stimulus_at

    async def stim(self, role: str, room: str, command: str) -> None:
        board = self.devices[(role, room)].board
        if self._stimulus_at is None:
            self._stimulus_at = time.time()
        reply = await asyncio.to_thread(board.control, command)
        if not reply.startswith("ok"):
            raise RuntimeError(f"{role} in {room}: '{command}' -> {reply}")

    async def hub_command(self, role: str, room: str, body: dict[str, Any]) -> None:
        device = self.devices[(role, room)]
        await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "trygg.tools.cli.main", "hub", "command", "--config",
            str(self.config_path), device.device_id, json.dumps(body)],
            check=True, capture_output=True, timeout=60)

    async def press_button(self) -> None:
        """The resident presses the wearable button: a short press wakes it and calls."""
        assert self.button is not None
        if self._stimulus_at is None:
            self._stimulus_at = time.time()
        for level in (0, 1):
            await asyncio.to_thread(self.button.control, f"pin button {level}")
            if level == 0:
                await asyncio.sleep(PRESS_S)

    # -- watching ------------------------------------------------------------------------------

    async def watch_hub(self) -> None:
        """Print new device events and alarm state changes from the hub's store."""
        from trygg.hub import config as hub_config
        from trygg.hub.store import Store

        database = hub_config.load(self.config_path).database
        names = {d.device_id: f"{d.role}/{d.room}" for d in self.devices.values()}
        names.update({self.bridge_id: f"bridge/{BRIDGE_ROOM}", self.button_id: "button/worn"})
        while True:
            await asyncio.sleep(0.3)
            try:
                store = Store(database)
            except Exception:  # the hub may be creating it
                continue
            try:
                for e in store.events(after_id=self._seen_event_id):
                    self._seen_event_id = e.id
                    if e.type == "event":
                        value = "" if e.value is None else f" ({e.value})"
                        self.say("event", f"{names.get(e.device_id or '', e.device_id)}: "
                                 f"{e.name}{value}")
                for a in store.alarms():
                    if self._seen_alarms.get(a["alarm_id"]) != a["state"]:
                        self._seen_alarms[a["alarm_id"]] = a["state"]
                        self.say("hub", f"alarm {a['kind']} {a['state']} ({a['alarm_id']})")
            finally:
                store.close()

    async def watch_wearer(self) -> None:
        """Print what the wearer's button shows (its console lines) and note its feedback."""
        seen = 0
        while True:
            await asyncio.sleep(0.2)
            if self.button is None:
                continue
            lines = self.button.lines[seen:]
            seen += len(lines)
            for line in lines:
                if not line.startswith("button: "):
                    continue
                self.say("wearer", line.removeprefix("button: "))
                if line.startswith("button: feedback "):
                    self.feedback.append(line.removeprefix("button: feedback ").strip())
                    self._fed_back.set()

    async def wait_for_feedback(self, what: str, within: float = ALARM_WAIT_S) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while what not in self.feedback[self._feedback_mark:]:
            self._fed_back.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._fed_back.wait()
        return True

    def on_arrival(self, arrival: Arrival) -> None:
        """What the centre's console shows, with the latency from the hub's raise."""
        key = (arrival.wire_id, arrival.event)
        if key in self._seen_wire:
            # The same message again (SCAIP ref, DC-09 sequence, SOS Access reference): a
            # retransmission the centre recognises, not a second alarm.
            self.retransmissions += 1
            self.say("ARC", f"(retransmission of {arrival.wire_id})")
            return
        self._seen_wire.add(key)
        raised_at = self._raised_at(arrival) if arrival.event == "raised" else None
        entry: dict[str, Any] = {
            "kind": arrival.kind, "event": arrival.event, "zone": arrival.zone,
            "room": arrival.room, "code": arrival.code, "wire_id": arrival.wire_id,
            "received_at": arrival.received_at,
            "latency_from_raise_ms": None if raised_at is None else
            round(1000 * (arrival.received_at - raised_at), 1)}
        self.arc_events.append(entry)
        self._arrived.set()
        lat = entry["latency_from_raise_ms"]
        self.say("ARC", arrival.line
                 + (f"  [{lat:.1f} ms after the hub raised it]" if lat is not None else ""))

    def _raised_at(self, arrival: Arrival) -> float | None:
        """When the hub raised the alarm that just arrived: its newest alarm of that kind
        raised before the arrival (one open alarm per kind in a scenario), from the store,
        where ``raised_at`` has the hub clock's full precision (the DC-09 [H] field, which
        this used to read, has whole seconds)."""
        raised = [a["raised_at"] for a in self._alarms()
                  if a["kind"] == arrival.kind and a["raised_at"] <= arrival.received_at]
        return max(raised) if raised else None

    async def wait_for_arc(self, kind: str, since_index: int, within: float = ALARM_WAIT_S,
                           event: str = "raised") -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not any(e["kind"] == kind and e["event"] == event
                      for e in self.arc_events[since_index:]):
            self._arrived.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._arrived.wait()
        return True

    def _alarms(self) -> list[dict[str, Any]]:
        from trygg.hub import config as hub_config
        from trygg.hub.store import Store

        store = Store(hub_config.load(self.config_path).database)
        try:
            return store.alarms()
        finally:
            store.close()

    async def resolve_open_alarms(self) -> None:
        """Close what the last scenario left open, and wait until the centre has the restore of
        every resolved alarm: the next scenario then sees only what it causes itself."""
        for alarm in self._alarms():
            if alarm["state"] != "resolved":
                await asyncio.to_thread(subprocess.run, [
                    sys.executable, "-m", "trygg.tools.cli.main", "hub", "resolve", "--config",
                    str(self.config_path), alarm["alarm_id"]], capture_output=True, timeout=60)
        deadline = time.monotonic() + ALARM_WAIT_S
        while time.monotonic() < deadline:
            # Every alarm resolved sends one restore: when the centre has as many restores of
            # each kind as the store has resolved alarms, it has them all.
            alarms = self._alarms()
            restores = collections.Counter(e["kind"] for e in self.arc_events
                                           if e["event"] == "resolved")
            resolved = collections.Counter(a["kind"] for a in alarms
                                           if a["state"] == "resolved")
            if all(a["state"] == "resolved" for a in alarms) and restores == resolved:
                return
            await asyncio.sleep(0.3)  # the hub applies a resolve at its next tick
        self.say("demo", "not every resolved alarm's restore reached the centre")

    # -- scenarios -----------------------------------------------------------------------------

    async def quiet_day(self) -> None:
        """Up, bathroom, kitchen, out and home, back to bed: nothing to report."""
        await self.stim("bed", "bedroom", f"adc bed {OUT_OF_BED}")
        for room in ("bathroom", "kitchen", "hallway", "kitchen", "bathroom", "kitchen"):
            await self.stim("motion", room, "pulse pir")
            await asyncio.sleep(3)
        await self.stim("bed", "bedroom", f"adc bed {IN_BED}")
        await asyncio.sleep(FALL_THRESHOLD_MIN * 60 + 10)  # longer than any fall threshold

    async def smoke(self) -> None:
        await self.stim("smoke", "kitchen", "pin smoke_alarm 1")
        await self.wait_for_arc("fire", self._mark)
        await self.stim("smoke", "kitchen", "pin smoke_alarm 0")
        await self.wait_for_arc("fire", self._mark, event="resolved")

    async def missed_dose(self) -> None:
        # The dispenser only counts a dose due if its minute begins after the schedule
        # arrived, so leave the command (a hub CLI process, the signed command, the device's
        # reply) DOSE_LEAD_S to get there, even on a busy machine.
        now = dt.datetime.now(zoneinfo.ZoneInfo(TIMEZONE))
        due = (now + dt.timedelta(seconds=DOSE_LEAD_S + 60)).replace(second=0, microsecond=0)
        minute = due.hour * 60 + due.minute
        await self.hub_command("dispenser", "kitchen",
                               {"command": "set_dose_schedule", "doses": [[minute, 1]]})
        self.say("demo", f"dose 1 scheduled at {due:%H:%M}; nobody takes it")
        await self.wait_for_arc("missed_dose", self._mark, within=ALARM_WAIT_S + 150)

    async def bathroom_fall(self) -> None:
        await self.stim("bed", "bedroom", f"adc bed {OUT_OF_BED}")
        await asyncio.sleep(2)
        await self.stim("motion", "bathroom", "pulse pir")
        self.say("demo", "bathroom visit, then no movement anywhere")
        await self.wait_for_arc("possible_fall", self._mark)

    async def night_fall(self) -> None:
        await self.stim("bed", "bedroom", f"adc bed {IN_BED}")
        await asyncio.sleep(4)
        await self.resolve_open_alarms()  # and the centre has every restore
        self._mark = len(self.arc_events)
        self._stimulus_at = None
        await self.stim("bed", "bedroom", f"adc bed {OUT_OF_BED}")
        await asyncio.sleep(1)
        # Getting up is seen: an exit no motion confirms is taken for a mat that lost the
        # sleeper, not for a fall.
        await self.stim("motion", "hallway", "pulse pir")
        self.say("demo", "out of bed at night into the hallway, then no movement")
        await self.wait_for_arc("possible_fall", self._mark)

    async def button_call(self) -> None:
        """The resident presses her wearable button; the call goes through the bridge to the
        centre, and the button shows her the hub has it, then that the centre acknowledged."""
        self.say("demo", "the resident presses her wearable button")
        await self.press_button()
        await self.wait_for_arc("assistance", self._mark)
        # Both within the scenario's wait: a missing one fails it (FEEDBACK_AT_WEARER).
        if not await self.wait_for_feedback("acknowledged"):
            self.say("demo", f"the wearer was not shown the centre's acknowledgement within "
                     f"{ALARM_WAIT_S:.0f} s")

    async def play(self, name: str) -> ScenarioResult:
        expected, expected_restores, method = SCENARIOS[name]
        self.say("demo", f"--- scenario {name}: expecting "
                 f"{', '.join(expected) if expected else 'no alarm'}"
                 f"{' and the restore' if expected_restores else ''} ---")
        await self.resolve_open_alarms()
        self._mark = len(self.arc_events)
        self._feedback_mark = len(self.feedback)
        self._stimulus_at = None
        started = time.monotonic()
        play: Callable[[], Awaitable[None]] = getattr(self, method)
        await play()
        await asyncio.sleep(1)
        at_centre = self.arc_events[self._mark:]
        received = [e for e in at_centre if e["event"] != "resolved"]
        restores = [e for e in at_centre if e["event"] == "resolved"]
        kinds = sorted(str(e["kind"]) for e in received)
        restored = sorted(str(e["kind"]) for e in restores)
        feedback = self.feedback[self._feedback_mark:]
        expected_feedback = FEEDBACK_AT_WEARER.get(name, ())
        passed = (kinds == sorted(expected) and restored == sorted(expected_restores)
                  and feedback == list(expected_feedback))
        stimulus_at = self.first_stimulus()
        for e in received:
            if stimulus_at is not None:
                e["latency_from_stimulus_ms"] = round(1000 * (e["received_at"] - stimulus_at), 1)
        result = ScenarioResult(name, expected, expected_restores, [
            {k: e.get(k) for k in ("kind", "zone", "room", "code", "wire_id",
                                   "latency_from_raise_ms", "latency_from_stimulus_ms")}
             for e in received],
            [{k: e.get(k) for k in ("kind", "zone", "room", "code", "wire_id")}
             for e in restores],
            passed, round(time.monotonic() - started, 1), expected_feedback, feedback)
        shown = f"; the wearer was shown {', '.join(feedback)}" if feedback else ""
        self.say("demo", f"--- {name}: {'PASS' if passed else 'FAIL'} "
                 f"({', '.join(kinds) or 'no alarm'}"
                 f"{'; restored ' + ', '.join(restored) if restored else ''} at the centre"
                 f"{shown}) ---")
        return result

    async def run(self, scenarios: list[str]) -> list[ScenarioResult]:
        mqtt_port = free_port()
        async with Centre(self.centre_protocol, self.workdir / "centre",
                          accounts=(RESIDENT_ACCOUNT, HUB_ACCOUNT),
                          on_arrival=self.on_arrival) as centre:
            self.say("demo", f"alarm centre: {centre.describe()}")
            self.medium = EspNowMedium().__enter__()
            self.say("demo", f"ESP-NOW medium on 127.0.0.1:{self.medium.port} (UDP; a battery "
                     "board joins it with trygg sim board --radio PORT)")
            self.bridge_board = await asyncio.to_thread(
                PtyBoard, self.workdir / f"bridge-{BRIDGE_ROOM}", romfs=True)
            self.write_config(mqtt_port, centre.receiver("demo-centre"))
            broker = await asyncio.to_thread(start_broker, self.config_path.parent, mqtt_port)
            watchers: list[asyncio.Task[None]] = []
            try:
                await asyncio.to_thread(broker.start)
                self.say("demo", f"mosquitto on 127.0.0.1:{mqtt_port} (hub's passwords and "
                         "ACLs)")
                self.start_hub()
                self.say("demo", "hub started (demo profile: fall thresholds 15 s)")
                await self.provision_all(mqtt_port)
                await self.pair_wearable()
                watchers = [asyncio.create_task(self.watch_hub()),
                            asyncio.create_task(self.watch_wearer())]
                return [await self.play(name) for name in scenarios]
            finally:
                # The home first, the centre last (it leaves with the with-block).
                for watcher in watchers:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                for device in self.devices.values():
                    await asyncio.to_thread(device.board.close)
                if self.button is not None:
                    await asyncio.to_thread(self.button.close)
                await asyncio.to_thread(self.bridge_board.close)
                self.medium.__exit__(None, None, None)
                if self.hub_proc is not None:
                    await asyncio.to_thread(end_process, self.hub_proc, 10.0)
                await asyncio.to_thread(broker.close)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the simulated home end to end (hub, devices, ARC)")
    p.add_argument("--scenario", default="all", choices=("all", *SCENARIO_ORDER),
                   help="which scenario to play (default: all)")
    p.add_argument("--centre", default=DEFAULT_CENTRE, choices=CENTRE_PROTOCOLS,
                   help="the alarm centre's protocol (default scaip: the SCAIP console behind "
                   "kamailio; dc09: pysiaalarm; sos-access: the SOS Access v4 console)")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.add_argument("--keep", type=Path, help="keep the home's files (logs, database) here")
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    scenarios = list(SCENARIO_ORDER) if args.scenario == "all" else [args.scenario]
    if shutil.which("socat") is None:
        print("trygg demo: socat is missing (Debian package socat; tools/dev installs it)",
              file=sys.stderr)
        return 2
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="trygg-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    demo = Demo(workdir, as_json=args.json, centre=args.centre)
    started = time.monotonic()
    try:
        results = asyncio.run(demo.run(scenarios))
    except KeyboardInterrupt:
        print("demo stopped", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        hint = (" (or --centre dc09, which needs neither kamailio nor PJSIP)"
                if args.centre == "scaip" else "")
        print(f"trygg demo: {exc}{hint} (files in {workdir})", file=sys.stderr)
        return 1
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = {"demo": "trygg", "centre": args.centre,
               "seconds": round(time.monotonic() - started, 1),
               "passed": all(r.passed for r in results),
               "retransmissions_at_arc": demo.retransmissions,
               "scenarios": {r.name: {"expected": list(r.expected),
                                      "expected_restores": list(r.expected_restores),
                                      "passed": r.passed, "seconds": r.seconds,
                                      "alarms_at_arc": r.alarms, "restores_at_arc": r.restores,
                                      "expected_feedback_at_wearer": list(r.expected_feedback),
                                      "feedback_at_wearer": r.feedback}
                             for r in results}}
    if args.json:
        print(json.dumps(summary))
    else:
        print("\nSummary")
        for r in results:
            kinds = ", ".join(f"{a['kind']} zone {a['zone']} "
                              f"{a['latency_from_raise_ms']} ms" for a in r.alarms) or "none"
            restores = "".join(f", {a['kind']} restored" for a in r.restores)
            shown = f"; wearer shown {', '.join(r.feedback)}" if r.feedback else ""
            print(f"  {r.name:14} {'PASS' if r.passed else 'FAIL'}  expected "
                  f"{', '.join(r.expected) or 'no alarm':14} at the centre: {kinds}{restores}"
                  f"{shown}")
    return 0 if summary["passed"] else 1
