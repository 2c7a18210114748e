"""The device core: what every role shares.

Seals what roles report into signed frames with never-reused sequence numbers
(protocol.sequence over reserved storage records), keeps them in the
persistent outbox until the hub acks them, sends them over the link, verifies
and replay-checks every downlink frame *before* reading it (architecture
invariant 3), carries out hub commands, sends hello and heartbeats, and feeds
the watchdog only while all its tasks are alive.
"""

import asyncio
import binascii
import time

from micropython import const

from hw.storage import SequenceSlots
from protocol import frame
from protocol.cose import DOWN, MacKey
from protocol.errors import OVERSIZED, REPLAYED, ProtocolError
from protocol.replay import ReplayWindow
from protocol.sequence import SequenceCounter

from . import VERSION, tunables
from .clock import Clock
from .outbox import ALARM, REPORT, TELEMETRY, URGENT, Outbox

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

    from .link import Link


# Downlink replay window: highest seq (6 bytes) + bitmap (8 bytes).
_REPLAY_RECORD = const("replay")
# Hub's UTC offset in minutes, as text: with the RTC it gives local time after a reset
# (dose times) before the hub sends set_time again.
_OFFSET_RECORD = const("utc_offset")
_REBOOT_GRACE_MS = const(2000)  # time to get the reboot command's result out first
_FEED_MS = const(1000)
# Commands run lately, by the hub's command id: a retry is a new frame (new sequence number,
# same id) that the replay window lets through, and copies meet (a battery device gets the
# retries its bridge kept while it slept and the attempt the hub sends when it wakes; a Wi-Fi
# device a retry that crossed its result). A copy of one of these is not run again: its
# result is in the outbox or acked already. Kept this long (a battery device forgets them
# when it sleeps): the hub's command ids are not reused within it (hub/store.py keeps
# finished commands as long as events, 90 days by default).
_RAN_MS = const(3_600_000)
_RAN_KEPT = const(4)


def _load_window(storage: "Any") -> ReplayWindow:
    rec = storage.read(_REPLAY_RECORD)
    if rec is None or len(rec) != 14:
        return ReplayWindow()
    return ReplayWindow(int.from_bytes(rec[:6], "big") - 1, int.from_bytes(rec[6:], "big"))


class Device:
    def __init__(self, hal: "Any", cfg: "dict[str, Any]") -> None:
        self.hal = hal
        self.cfg = cfg
        self.storage = hal.storage
        self.clock = Clock()
        rtc = hal.rtc()
        if rtc is not None:  # a reset, not a power cut: the RTC still has the hub's time
            offset = self.storage.read(_OFFSET_RECORD)
            self.clock.set_time(rtc, int(offset) if offset else 0)
        self.kid = binascii.unhexlify(cfg["device_id"])
        self.key = MacKey(binascii.unhexlify(cfg["key"]))
        # Booted when the device runs (run(); a battery device's wake resumes it instead).
        self.seq = SequenceCounter(SequenceSlots(self.storage))
        self.window = _load_window(self.storage)
        self.outbox = Outbox(self.storage, cfg["outbox_max"], cfg["resend_s"] * 1000,
                             cfg["resend_max_s"] * 1000)
        from . import roles

        role_class = roles.load(cfg["role"])
        # The role's transport: Wi-Fi unless the role names another (firmware/roles/base.py).
        link: Any = getattr(role_class, "link", None)
        if link is None:
            from .mqtt import MqttLink as link
        self.link: Link = link(hal, cfg, self.on_downlink)
        self.rejected = 0
        self._ran: list[Any] = []  # [command id, uptime_ms run], newest last
        # Set from tasks only (roles emit from their tasks, never from an IRQ), so a plain
        # Event, which wakes the sender at once (see hw.sim.hal.SimFlag for the alternative).
        self._wake = asyncio.Event()
        self._tasks: list[Any] = []
        self.role = role_class(self)

    # -- uplink -------------------------------------------------------------------

    def emit(self, event: str, value: "int | None" = None) -> None:
        """Queue a role event in the class its role declares (firmware/roles/base.py):
        urgent events go first, alarms are never dropped."""
        msg: dict[str, Any] = {"type": "event", "event": event}
        if value is not None:
            msg["value"] = value
        role = self.role
        if event in role.URGENT:
            cls = URGENT
        elif event in role.REPORT:
            cls = REPORT
        else:
            cls = ALARM
        self.send(msg, cls)

    def send(self, msg: "dict[str, Any]", cls: int) -> None:
        """Stamp, seal, persist and queue a message for the hub."""
        msg["uptime"] = self.clock.uptime()
        now = self.clock.time()
        if now is not None:
            msg["time"] = now
        seq = self.seq.next()
        data = frame.seal(msg, self.key, self.kid, seq)
        self.outbox.put(data, seq, cls)
        print("up: seq %d %s %s" % (seq, msg["type"], msg.get("event", "")))
        self._wake.set()

    async def _sender(self) -> None:
        link = self.link
        outbox = self.outbox
        reconnects = link.reconnects
        while True:
            if not link.up:
                await link.wait_up()
            if link.reconnects != reconnects:
                reconnects = link.reconnects
                outbox.resend_all()
            now = self.clock.uptime_ms()
            entry = outbox.next_due(now)
            if entry is None:
                # Woken by a new frame, an ack, and each second of the feeder's tick while
                # frames wait for their resend (a timed wait here would cost a task).
                self._wake.clear()
                await self._wake.wait()
                continue
            data = outbox.read(entry)
            if data is None:  # record lost (flash damage): nothing left to send for it
                outbox.ack([[entry[0], entry[0]]])
                continue
            if await link.send(data):
                outbox.sent(entry, self.clock.uptime_ms())

    def heartbeat(self) -> None:
        msg: dict[str, Any] = {
            "type": "heartbeat",
            "battery_mv": max(0, min(65535, self.hal.battery_mv())),
            "rssi": self.hal.rssi(),
            "free_heap": self.hal.free_heap(),
            "outbox": len(self.outbox),
            "rejected": self.rejected,
            "heartbeat_s": self.cfg["heartbeat_s"],  # the hub waits this long for the next
        }
        if self.outbox.dropped:
            msg["dropped"] = min(self.outbox.dropped, 65535)
        self.role.report(msg)
        self.send(msg, TELEMETRY)

    # -- downlink -----------------------------------------------------------------

    def _key_for(self, kid: bytes) -> "MacKey | None":
        return self.key if kid == self.kid else None

    def _window_for(self, kid: bytes) -> ReplayWindow:
        return self.window

    def on_downlink(self, data: "bytes | None") -> None:
        """One frame from the hub: authenticate, replay-check, only then read and act."""
        try:
            if data is None:
                raise ProtocolError(OVERSIZED, "downlink frame over the buffer size")
            envelope, msg = frame.open_message(data, DOWN, self._key_for, self._window_for)
        except ProtocolError as e:
            if e.reason == REPLAYED:  # a frame had already: a resend (the bridge, QoS 1)
                print("down: duplicate")
                return
            self.rejected += 1
            print("down: rejected (%s)" % (e,))
            return
        self.window.accept(envelope.seq)
        self.storage.write(_REPLAY_RECORD, (self.window.highest + 1).to_bytes(6, "big")
                           + self.window.bitmap.to_bytes(8, "big"))
        if msg["type"] == "ack":
            n = self.outbox.ack(msg["ranges"])
            if n:
                self._wake.set()
            return
        if self._ran_already(msg["command_id"]):
            print("down: command %s (id %d) again: run already" % (msg["command"],
                                                                  msg["command_id"]))
            return
        print("down: command %s (id %d)" % (msg["command"], msg["command_id"]))
        try:
            status, detail = self.command(msg)
        except Exception as e:  # a failing handler must not take the device down
            status, detail = "failed", str(e)
        result: dict[str, Any] = {"type": "command_result", "command_id": msg["command_id"],
                                  "status": status}
        if detail:
            result["detail"] = detail.encode()[:32].decode()
        self.send(result, REPORT)

    def _ran_already(self, command_id: int) -> bool:
        """Whether ``command_id`` was run lately; if not, it is noted as run now."""
        now = self.clock.uptime_ms()  # exact across ticks_ms wraps, unlike ticks_diff
        ran = self._ran
        for item in list(ran):
            if now - item[1] > _RAN_MS:
                ran.remove(item)
            elif item[0] == command_id:
                return True
        ran.append([command_id, now])
        if len(ran) > _RAN_KEPT:
            ran.pop(0)
        return False

    def command(self, msg: "dict[str, Any]") -> "tuple[str, str | None]":
        name = msg["command"]
        if name == "set_time":
            offset = msg["utc_offset_min"]
            if self.storage.read(_OFFSET_RECORD) != str(offset).encode():  # spare the flash
                self.storage.write(_OFFSET_RECORD, str(offset))
            self.clock.set_time(msg["time"], offset)
            self.hal.set_rtc(msg["time"])
            self.role.clock_changed()
            return "ok", None
        if name == "set_config":
            return self.set_config(msg["config"])
        if name == "reboot":
            self._reboot_task = asyncio.create_task(self._reboot())
            return "ok", None
        if name in self.role.COMMANDS:
            return self.role.command(msg)
        return "unsupported", "%s on a %s device" % (name, self.cfg["role"])

    def set_config(self, changes: "dict[str, Any]") -> "tuple[str, str | None]":
        """Apply and persist hub-settable tunables (set_config, bed calibration)."""
        for name in changes:  # values: checked by protocol.messages
            if name not in self.cfg:  # every setting of this device has its value there
                return "rejected", "%s: not a %s setting" % (name, self.cfg["role"])
        problem = self.role.conflict(self.cfg, changes)
        if problem is not None:
            return "rejected", problem
        overrides = self.storage.read_json(tunables.OVERRIDES) or {}
        overrides.update(changes)
        self.storage.write(tunables.OVERRIDES, overrides, True)
        self.cfg.update(changes)
        self.role.config_changed()
        return "ok", None

    async def _reboot(self) -> None:
        start = time.ticks_ms()
        while len(self.outbox) and time.ticks_diff(time.ticks_ms(), start) < _REBOOT_GRACE_MS:
            await asyncio.sleep_ms(50)
        self.hal.reset("soft")

    # -- life cycle ---------------------------------------------------------------

    async def _feeder(self) -> None:
        # Fed only while every task is alive: a task that died with an exception (or an event
        # loop blocked by a stuck call) ends in a watchdog reset and a hello saying so. The
        # heartbeat rides on the same 1 s tick (a task of its own would cost ~1 KB of heap).
        self.hal.watchdog_start(self.cfg["watchdog_ms"])
        clock = self.clock
        last_beat = clock.uptime_ms()
        while True:
            for t in self._tasks:
                if t.done():
                    print("device: a task ended; leaving the watchdog unfed")
                    return
            self.hal.watchdog_feed()
            now = clock.uptime_ms()  # also keeps uptime exact across ticks_ms wraps
            if len(self.outbox):
                self._wake.set()  # resends fall due (to the second) and reconnects resend all
            self.role.tick()
            if now - last_beat >= self.cfg["heartbeat_s"] * 1000:
                last_beat = now
                self.heartbeat()
            await asyncio.sleep_ms(_FEED_MS)

    async def run(self) -> None:
        wake = getattr(self.link, "wake", None)
        if wake is not None:  # a battery device: its life between deep sleeps (firmware/wake.py)
            await wake(self)
            return
        self.seq.boot()
        await self.hal.start()
        self.role.setup()
        self.send({"type": "hello", "firmware": VERSION, "role": self.cfg["role"],
                   "board": self.cfg["board"], "reset": self.hal.reset_cause(),
                   "heartbeat_s": self.cfg["heartbeat_s"],
                   "power": self.hal.power}, REPORT)
        self._tasks = [asyncio.create_task(c) for c in (
            self.link.run(), self._sender(), self.role.run())]
        await self._feeder()
        await asyncio.Event().wait()  # unfed: wait for the watchdog
