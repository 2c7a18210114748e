"""A battery device's life between two deep sleeps (its role's link is firmware/espnow.py).

Loaded only by battery devices: the Wi-Fi roles never hold its code (heap, files mode). A
battery role adds to the life cycle of roles/base.py (which leaves them out for the same
reason):

``resume(state, wake)``
    after setup(): what the role kept in RTC memory before it slept (None after a
    power-up) and what woke the device (hw/hal.py wake_cause);
``async awake()``
    report what woke the device (emit events); return when the device may sleep;
``sleep_plan() -> (ms, signal, level)``
    sleep at most ``ms`` (0: until the next heartbeat), and wake when ``signal`` is at
    ``level`` (None: the timer only);
``rtc_state()``
    what to keep in RTC memory through the sleep (a small JSON value);
``noticed()`` (optional)
    after the exchange: True when the role has reported something it saw while awake (an
    input's edge during the exchange, which no wake pin watches); it is sent in this wake;
``wants_downlink()`` (optional)
    True to ask the bridge for frames with nothing to send (a pending feedback);
``finish()`` (optional)
    after the exchange with the hub, before sleeping (feedback to the wearer).
"""

import asyncio
import time

from micropython import const

from hw import low_power
from hw.storage import SequenceSlots
from protocol.sequence import SequenceCounter, decode_record

from . import VERSION
from .outbox import REPORT

# Frames taken after a round before the wake goes on: the bridge's mailbox at its largest
# (firmware/roles/bridge.py bridge_mailbox); a neighbour sending in the bridge's name cannot
# keep the device awake longer.
_MAX_DOWN = const(64)

TYPE_CHECKING = const(False)  # a compile-time constant: the block below is not even loaded
if TYPE_CHECKING:
    from typing import Any

# How often the service window looks at the role's wake pin: a press or a PIR pulse lasts
# far longer (a PIR holds its output for ~2 s).
_WINDOW_POLL_MS = const(20)


class KeptCounter(SequenceCounter):
    """The sequence counter of a device that sleeps between wakes. Every wake is a start, and
    a start reserves the next block of numbers on flash (protocol/sequence.py, RFC 8613
    Appendix B.1.1): one flash write per wake, some hundreds a day. Instead its place is kept
    in RTC memory through deep sleep, and a wake from deep sleep goes on inside the block
    the flash has reserved: the flash is written when the block is used up (every
    DEFAULT_STEP numbers), as on a Wi-Fi device. Any other start (power-up, a reset after a
    crash, whose frames may have used numbers the kept place does not know) boots as before,
    skipping to the reserved bound. ``writes`` counts the records written (bench energy)."""

    writes = 0

    def _reserve(self, limit: int) -> None:
        SequenceCounter._reserve(self, limit)
        self.writes += 1

    def resume(self, kept: "Any") -> int:
        """Go on from ``kept`` ([next, bound], from kept()) if the flash's newest bound is
        that bound; else boot()."""
        if isinstance(kept, list) and len(kept) == 2:
            nxt, limit = kept
            best, best_slot = -1, self._slots - 1
            for slot in range(self._slots):
                bound = decode_record(self._storage.read(slot))
                if bound > best:
                    best, best_slot = bound, slot
            if best == limit and isinstance(nxt, int) and 0 <= nxt <= limit:
                self._slot, self._limit, self._next = best_slot, limit, nxt
                self.booted = True
                return nxt
        return self.boot()

    def kept(self) -> "list[int]":
        return [self._next, self._limit]


def _rtc_state(lp: "Any") -> "dict[str, Any]":
    import json

    raw = lp.rtc_memory()
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:  # RTC memory lost its content (brownout): start afresh
        state = {}
    return state if isinstance(state, dict) else {}


async def wake(device: "Any") -> None:
    """A battery device's life between two deep sleeps (firmware/espnow.py).

    Woken by a power-up, its timer (a heartbeat falls due) or its role's pin: the role
    reports what woke it; the outbox (on flash: it survives deep sleep and a battery
    swap) is sent to the bridge, oldest first, and the device waits ``espnow_ack_ms``
    after the last frame for the hub's acks; then it sleeps until the next heartbeat or
    the role's pin (after a power-up or a reset, ``espnow_service_s`` later: the service
    window). A frame the bridge did not hear, or that no ack came for, stays in the
    outbox for the next wake: nothing is resent in a loop that would drain the battery
    while the bridge is out of reach.
    """
    hal = device.hal
    cfg = device.cfg
    link: Any = device.link
    awake_from = time.ticks_ms()
    hal.watchdog_start(cfg["watchdog_ms"])  # a hung wake must not drain the battery
    lp = low_power.of(hal)  # before the role's setup: its inputs' levels while asleep
    await hal.start()
    state = _rtc_state(lp)
    seq = device.seq = KeptCounter(SequenceSlots(device.storage))
    # Only after a deep sleep, which is entered after the place was kept; any other start
    # may have used numbers past it.
    seq.resume(state.get("seq") if lp.wake_cause() is not None else None)
    device.role.setup()
    device.role.resume(state.get("role"), lp.wake_cause())
    if lp.wake_cause() is None:  # a power-up or a reset, not a wake from deep sleep
        device.send({"type": "hello", "firmware": VERSION, "role": cfg["role"],
                   "board": cfg["board"], "reset": hal.reset_cause(),
                   "heartbeat_s": cfg["heartbeat_s"],
                   # Whatever the board file says of the board: a device that sleeps between
                   # wakes runs on its cell (hub/roles: which cell, so which limits).
                   "power": "battery"}, REPORT)
    beat_ms = cfg["heartbeat_s"] * 1000
    now = lp.sleep_clock_ms()
    due = state.get("beat")
    # Due, never set, or further away than one interval (the RTC was set since).
    if not isinstance(due, int) or now >= due or due - now > beat_ms:
        device.heartbeat()
        due = now + beat_ms
    await device.role.awake()
    hal.watchdog_feed()
    role = device.role
    polls = role.wants_downlink() if hasattr(role, "wants_downlink") else False
    await _exchange(device, link, polls)
    hal.watchdog_feed()
    # What the role saw while awake goes out now, not a retry interval later; bounded, as a
    # wake is, by espnow_rounds (a role that still has news keeps it for the next wake).
    if hasattr(role, "noticed"):
        for _ in range(cfg["espnow_rounds"]):
            if not role.noticed():
                break
            await _exchange(device, link, False)
            hal.watchdog_feed()
    if hasattr(role, "finish"):
        role.finish()
    radio_ms = time.ticks_diff(time.ticks_ms(), link.radio_on_ms) if link.radio else 0
    link.close()  # the radio is off in deep sleep anyway; say so on the air
    sleep_ms, signal, level = device.role.sleep_plan()
    if lp.wake_cause() is None:  # a power-up or a reset: a technician may be at the cable
        await _service_window(hal, cfg["espnow_service_s"], signal, level)
    left = due - lp.sleep_clock_ms()
    if left < 1:
        left = 1
    if sleep_ms <= 0 or sleep_ms > left:
        sleep_ms = left
    tries = state.get("retry")
    tries = tries + 1 if len(device.outbox) and isinstance(tries, int) else (
        1 if len(device.outbox) else 0)
    if tries:
        retry_ms = cfg["espnow_retry_s"] * 1000 << min(tries - 1, 16)
        if retry_ms < sleep_ms:
            sleep_ms = retry_ms
    lp.rtc_memory(_dumps({"beat": due, "retry": tries, "role": device.role.rtc_state(),
                          "seq": seq.kept()}))
    # What the wake cost, for trygg bench energy (tools/bench/energy.py reads this line).
    print("wake: awake %d ms radio %d ms tx %d frames %d bytes failed %d outbox %d seqw %d" % (
        time.ticks_diff(time.ticks_ms(), awake_from), radio_ms, link.sent_frames,
        link.sent_bytes, link.failed, len(device.outbox), seq.writes))
    lp.deep_sleep(sleep_ms, signal, level)


async def _service_window(hal: "Any", seconds: int, signal: "str | None", level: int) -> None:
    """Stay awake ``seconds`` (espnow_service_s) before the first deep sleep after a power-up
    or a reset: a sleeping ESP32 does not hear its UART, so this is the moment a serial tool
    (trygg provision, mpremote) can stop the firmware with Ctrl-C. Nothing here catches the
    KeyboardInterrupt: it leaves asyncio.run and firmware/main.py, and the chip is in its
    REPL (the watchdog started for this wake goes on: watchdog_ms to work in, then a reset
    and another window). The window ends early when the role's wake pin reaches its wake
    level: the deep sleep that follows wakes at once (ext0 wakes on a level), so a press of
    the button right after a battery swap is a call, not lost in the window."""
    if seconds <= 0:
        return
    # Not "wake:": tools and tests count those lines as wakes (tools/bench/energy.py).
    print("service window %d s (Ctrl-C for the REPL)" % seconds)
    # The role's input again: on the ESP32 a Pin made without ``pull`` keeps the pull the
    # role set (MicroPython, ports/esp32/machine_pin.c: pull=-1, left as it is).
    pin = hal.pin_in(signal) if signal is not None else None
    end = time.ticks_add(time.ticks_ms(), seconds * 1000)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        hal.watchdog_feed()
        if pin is not None and pin.value() == level:
            print("service window: ended by %s" % signal)
            return
        await asyncio.sleep_ms(_WINDOW_POLL_MS)


async def _exchange(device: "Any", link: "Any", poll: bool) -> None:
    """Send the outbox to the bridge and take the hub's acks and commands, bounded by
    ``espnow_rounds`` (a command's result is one more round)."""
    outbox = device.outbox
    wait_ms = device.cfg["espnow_ack_ms"]
    for _ in range(device.cfg["espnow_rounds"]):
        sent = []
        for entry in list(outbox.entries):
            if entry not in outbox.entries:  # acked meanwhile
                continue
            data = outbox.read(entry)
            if data is None:
                outbox.ack([[entry[0], entry[0]]])
                continue
            if not await link.send(data):
                return  # the bridge did not hear us: keep everything for the next wake
            sent.append(entry)
        if not sent:
            if not poll:
                return
            poll = False
            if not await link.poll():
                return
        # Acks and commands come back through the bridge; wait for the acks of what was just
        # sent (a command's result, queued meanwhile, goes in the next round), not longer,
        # and for a mailbox of frames at most: a neighbour polling the bridge in this
        # device's name has it send what it keeps for the device again and again.
        for _ in range(_MAX_DOWN):
            if not _unacked(outbox, sent) or not await link.wait_frame(wait_ms):
                break
        if not len(outbox):
            # What the hub sent after the acks (a command) has a moment to arrive, and so has
            # what the bridge kept and sends again for a poll (frames the device may have had:
            # each one heard, another moment), up to a bridge's mailbox of them.
            for _ in range(_MAX_DOWN):
                if not await link.wait_frame(wait_ms // 4 if not poll else wait_ms) \
                        or len(outbox):
                    break
            if not len(outbox):
                return


def _unacked(outbox: "Any", sent: "list[Any]") -> bool:
    return any(entry in outbox.entries for entry in sent)


def _dumps(value: "Any") -> bytes:
    import json

    return json.dumps(value).encode()
