"""The ARC forwarder: durable outbox in, the centres' protocols out, nothing lost.

Life cycle::

    async with ArcForwarder(config, db_path, on_delivery=callback) as forwarder:
        await forwarder.submit(report)   # returns once the report is in SQLite

Inside, one delivery loop sends the outbox in order (priority, then time raised) to the first
reachable receiver in configured order, one message at a time, and retires a report only when
a receiver has it. What a receiver's answer means is its protocol's judgement
(``protocol.py``: delivered, resend, hold back, fail over, unreachable); everything else is
the same for every protocol. Each receiver also has a supervision task that sends its
protocol's link test after the link's supervision interval without traffic, and probes an
unreachable receiver with growing backoff until it answers, when traffic returns to it
(primary first).

Callbacks (both optional, called in the event loop, exceptions logged and ignored):
- ``on_delivery(alarm_id, event, receiver, ok, detail)``: ok=True when ``receiver``
  has the report; ok=False for each failed attempt (no answer, a refusal), with the reason
  in ``detail``. The report stays queued after a failure.
- ``on_link(receiver, up, detail)``: a receiver became unreachable (after ``failover_after``
  failures in a row) or answered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ..crash_points import crash_point
from ..rules.alarm_kinds import KINDS
from . import protocols
from .config import ArcConfig
from .outbox import ArcOutbox, OutboxEntry
from .protocol import DELIVERED, FAILOVER, HOLD_BACK, RESEND, CentreLink, Outcome
from .report import AlarmReport

log = logging.getLogger("trygg.hub.arc")

DeliveryCallback = Callable[[str, str, str, bool, str], None]
# How often delivered reports older than [arc].delivered_keep_days are forgotten: the
# retention is days, so hourly is exact enough and costs one DELETE an hour.
PRUNE_INTERVAL_S = 3600.0
LinkCallback = Callable[[str, bool, str], None]


def open_link(config: ArcConfig, index: int,
              clock: Callable[[], float] = time.time) -> CentreLink:
    """The link to receiver ``index``, in its protocol."""
    rc = config.receivers[index]
    return protocols.get(rc.protocol).open_link(rc, config, clock)


def _outage_id(receiver_name: str, started_ms: int) -> str:
    """The alarm id of a receiver's link outage notice (raised and resolved share it)."""
    return f"arc-link-{receiver_name}-{started_ms}"


@dataclass
class _Receiver:
    index: int
    link: CentreLink
    up: bool = True
    failures: int = 0  # consecutive failed attempts
    backoff: float = 0.0
    retry_at: float = 0.0  # monotonic; when an unreachable receiver is tried next
    last_answer: float = field(default_factory=time.monotonic)
    outage_id: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class ArcForwarder:
    def __init__(self, config: ArcConfig, db_path: str | Path, *,
                 on_delivery: DeliveryCallback | None = None,
                 on_link: LinkCallback | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.db_path = Path(db_path)
        self.on_delivery = on_delivery
        self.on_link = on_link
        self._clock = clock
        self._outbox: ArcOutbox | None = None
        self._receivers: list[_Receiver] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._preparing: list[asyncio.Task[None]] = []
        self._work = asyncio.Event()
        self._drained = asyncio.Event()
        self._pruned_at = 0.0
        self._resends: dict[int, int] = {}  # outbox row -> RESEND verdicts in a row
        self._declined: dict[int, set[int]] = {}  # outbox row -> receivers that said FAILOVER

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> ArcForwarder:
        self._outbox = ArcOutbox(self.db_path)
        self._receivers = [
            _Receiver(i, open_link(self.config, i, self._clock),
                      backoff=self.config.retry_backoff_initial)
            for i in range(len(self.config.receivers))]
        self._prune()
        outages = self._outbox.open_outages()
        for r in self._receivers:
            started = outages.get(r.link.name)
            if started is not None:
                # Reported lost before a restart: the restore goes out at its first answer.
                r.outage_id = _outage_id(r.link.name, started)
        # Each link gets ready in the background (SCAIP registers); these end, the rest run.
        self._preparing = [asyncio.create_task(self._prepare(r.link),
                                               name=f"arc-prepare-{r.index}")
                           for r in self._receivers]
        self._tasks = [asyncio.create_task(self._delivery_loop(), name="arc-delivery")]
        self._tasks += [asyncio.create_task(self._supervise(r), name=f"arc-supervise-{r.index}")
                        for r in self._receivers]
        self._work.set()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        tasks, self._tasks = self._tasks + self._preparing, []
        self._preparing = []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for receiver in self._receivers:
            await receiver.link.close()
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    # -- the hub's interface ------------------------------------------------------------

    async def submit(self, report: AlarmReport) -> None:
        """Store ``report`` durably in the outbox and wake delivery.

        Returns once the report is committed (it survives kill -9 and power loss from then
        on). Submitting the same (alarm_id, event) again stores nothing new.
        """
        if not isinstance(report, AlarmReport):
            raise TypeError(f"submit() takes an AlarmReport, not {type(report).__name__}")
        outbox = self._require_outbox()
        number, new, delivered_to = outbox.add(report)
        if delivered_to is not None:
            # Delivered before (the hub crashed before it recorded that): say so again, under
            # the same message number, rather than send it as a second alarm.
            log.info("arc: %s %s was delivered to %s already (message %d)", report.alarm_id,
                     report.event, delivered_to, number)
            self._notify_delivery(report, delivered_to, True,
                                  f"delivered to {delivered_to} already (message {number}, "
                                  "remembered by the ARC outbox)")
            return
        log.info("arc: queued %s %s %s (priority %d, message %d)%s", report.alarm_id,
                 report.kind, report.event, report.priority, number,
                 "" if new else " [already queued]")
        self._drained.clear()
        self._work.set()

    def pending(self) -> int:
        """Reports in the outbox not yet acknowledged."""
        return self._require_outbox().pending()

    async def wait_drained(self, within: float) -> bool:
        """Wait until the outbox is empty; False if ``within`` seconds pass first."""
        try:
            async with asyncio.timeout(within):
                await self._wait_drained()
        except TimeoutError:
            return False
        return True

    async def _wait_drained(self) -> None:
        while self.pending():
            self._drained.clear()
            await self._drained.wait()

    def link_states(self) -> dict[str, bool]:
        """Receiver name -> reachable (as far as the last attempts tell)."""
        return {r.link.name: r.up for r in self._receivers}

    def counters(self) -> dict[str, dict[str, object]]:
        return {r.link.name: r.link.counters() for r in self._receivers}

    # -- internals ----------------------------------------------------------------------

    def _require_outbox(self) -> ArcOutbox:
        if self._outbox is None:
            raise RuntimeError("ArcForwarder is not running: use 'async with ArcForwarder(...)'")
        return self._outbox

    def _notify_delivery(self, report: AlarmReport, receiver: str, ok: bool,
                         detail: str) -> None:
        if self.on_delivery is None:
            return
        try:
            self.on_delivery(report.alarm_id, report.event, receiver, ok, detail)
        except Exception:
            log.exception("arc: on_delivery callback failed (ignored)")

    def _pick_receiver(self, now: float, declined: Collection[int] = ()) -> _Receiver | None:
        for receiver in self._receivers:
            if receiver.up and receiver.index not in declined:
                return receiver
        due = [r for r in self._receivers
               if not r.up and r.retry_at <= now and r.index not in declined]
        return due[0] if due else None

    async def _wait_for_work(self, delay: float | None) -> None:
        self._work.clear()
        # asyncio.timeout, not wait_for: CPython 3.11's wait_for can swallow a cancellation
        # that races with the awaited event, and a forwarder must stop when told to.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._work.wait()

    @staticmethod
    async def _prepare(link: CentreLink) -> None:
        try:
            await link.prepare()
        except Exception as exc:  # the first attempt reports it in full
            log.info("arc: %s not ready yet: %s", link.name, exc)

    async def _delivery_loop(self) -> None:
        while True:
            try:
                await self._deliver_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not end alarm delivery: log it, pause, carry on.
                log.exception("arc: delivery loop error (continuing)")
                await asyncio.sleep(self.config.retry_backoff_initial)

    def _prune(self) -> None:
        outbox = self._require_outbox()
        now = self._clock()
        self._pruned_at = now
        forgotten = outbox.prune_delivered(now - self.config.delivered_keep_days * 86400)
        if forgotten:
            log.info("arc: forgot %d reports delivered more than %g days ago", forgotten,
                     self.config.delivered_keep_days)

    async def _deliver_next(self) -> None:
        outbox = self._require_outbox()
        if self._clock() - self._pruned_at > PRUNE_INTERVAL_S:
            self._prune()
        entry = outbox.next_due(self._clock())
        if entry is None:
            if outbox.pending() == 0:
                self._drained.set()
            deferred = outbox.earliest_deferred()
            delay = None if deferred is None else max(0.01, deferred - self._clock())
            await self._wait_for_work(delay)
            return
        now = time.monotonic()
        declined = self._declined.get(entry.row_id, set())
        receiver = self._pick_receiver(now, declined)
        if receiver is None and declined and len(declined) >= len(self._receivers):
            # Every receiver said "use another path": start over after a backoff.
            self._declined.pop(entry.row_id, None)
            not_before = self._clock() + self._message_backoff(entry.attempts)
            outbox.record_failure(entry.row_id, "every receiver asked for another path",
                                  not_before)
            return
        if receiver is None:
            soonest = min(r.retry_at for r in self._receivers)
            await self._wait_for_work(max(0.01, soonest - now))
            return
        await self._attempt(entry, receiver)

    async def _attempt(self, entry: OutboxEntry, receiver: _Receiver) -> None:
        outbox = self._require_outbox()
        report = entry.report
        name = receiver.link.name
        crash_point("arc.sending")
        outcome = await receiver.link.send(report, entry.number)
        wire = f" ({outcome.wire_id})" if outcome.wire_id else ""
        if outcome.verdict == DELIVERED:
            crash_point("arc.answered")
            outbox.mark_delivered(entry.row_id, name, self._clock())
            crash_point("arc.delivered")
            self._forget(entry.row_id)
            self._link_answered(receiver)
            detail = f"{outcome.detail} from {name} in {outcome.rtt * 1000:.1f} ms{wire}"
            log.info("arc: delivered %s %s: %s", report.alarm_id, report.event, detail)
            self._notify_delivery(report, name, True, detail)
            return
        if not outcome.answered:
            detail = f"{name}: {outcome.detail}{wire}"
            outbox.record_failure(entry.row_id, detail)
            self._link_failed(receiver, outcome)
            self._notify_delivery(report, name, False, detail)
            return
        self._link_answered(receiver)
        not_before = 0.0
        if outcome.verdict == RESEND:
            count = self._resends.get(entry.row_id, 0) + 1
            self._resends[entry.row_id] = count
            detail = f"{outcome.detail} from {name} (attempt {count}){wire}"
            not_before = self._clock() + outcome.after if outcome.after > 0 else 0.0
            if count >= receiver.link.resend_limit:
                self._resends.pop(entry.row_id, None)
                not_before = self._clock() + max(outcome.after,
                                                 self._message_backoff(entry.attempts))
                detail = (f"{outcome.detail} from {name} {count} times in a row; trying "
                          f"again in {not_before - self._clock():.0f} s{wire}")
        elif outcome.verdict == FAILOVER:
            self._declined.setdefault(entry.row_id, set()).add(receiver.index)
            detail = f"{outcome.detail} from {name}: trying the next receiver{wire}"
            log.warning("arc: %s %s: %s", report.alarm_id, report.event, detail)
        else:
            assert outcome.verdict == HOLD_BACK
            # The receiver is there but cannot take this message: hold it back (not the
            # whole queue) and try again later; it stays in the outbox.
            not_before = self._clock() + self._message_backoff(entry.attempts)
            detail = (f"{outcome.detail} from {name}; trying again in "
                      f"{not_before - self._clock():.0f} s{wire}")
            log.warning("arc: %s %s: %s", report.alarm_id, report.event, detail)
        outbox.record_failure(entry.row_id, detail, not_before)
        self._notify_delivery(report, name, False, detail)

    def _forget(self, row_id: int) -> None:
        self._resends.pop(row_id, None)
        self._declined.pop(row_id, None)

    def _message_backoff(self, attempts: int) -> float:
        return float(min(self.config.retry_backoff_max,
                         self.config.retry_backoff_initial * 2 ** min(attempts, 30)))

    def _link_answered(self, receiver: _Receiver) -> None:
        receiver.failures = 0
        receiver.backoff = self.config.retry_backoff_initial
        receiver.last_answer = time.monotonic()
        if not receiver.up:
            receiver.up = True
            self._link_changed(receiver, True, "answering again")
        elif receiver.outage_id is not None:
            self._link_changed(receiver, True, "answering after a restart of the hub")

    def _link_failed(self, receiver: _Receiver, outcome: Outcome) -> None:
        receiver.failures += 1
        if receiver.up and receiver.failures < self.config.failover_after:
            return
        receiver.retry_at = time.monotonic() + receiver.backoff
        receiver.backoff = min(self.config.retry_backoff_max, receiver.backoff * 2)
        if receiver.up:
            receiver.up = False
            self._link_changed(receiver, False, outcome.detail)
        receiver.wake.set()

    def _link_changed(self, receiver: _Receiver, up: bool, detail: str) -> None:
        rc = receiver.link.config
        others = [r.link.name for r in self._receivers if r.up and r is not receiver]
        if up:
            log.warning("arc: receiver %s is reachable again (%s)", rc.address_label, detail)
        else:
            log.warning("arc: receiver %s unreachable after %d failed attempts (%s); %s",
                        rc.address_label, receiver.failures, detail,
                        f"traffic goes to {others[0]}" if others else
                        "no other receiver reachable, alarms stay queued")
        if self.on_link is not None:
            try:
                self.on_link(rc.name, up, detail)
            except Exception:
                log.exception("arc: on_link callback failed (ignored)")
        self._queue_link_notice(receiver, up, detail)
        self._work.set()

    def _queue_link_notice(self, receiver: _Receiver, up: bool, detail: str) -> None:
        """The technical notice for the centre: a receiver was lost / came back."""
        now = self._clock()
        name = receiver.link.name
        outbox = self._require_outbox()
        started: int | None = None
        if not up:
            if receiver.outage_id is not None:
                return  # lost again before a restart's first answer: reported already
            started = int(now * 1000)
            receiver.outage_id = _outage_id(name, started)
        outage_id = receiver.outage_id
        if outage_id is None:
            return
        if up:
            receiver.outage_id = None
        report = AlarmReport(
            alarm_id=outage_id, event="resolved" if up else "raised",
            kind="receiver_unreachable", priority=KINDS["receiver_unreachable"].priority,
            account=self.config.account, zone=0, room=None, device_id=None,
            description=(f"receiver {receiver.link.name} "
                         f"{'reachable again' if up else 'unreachable'}: {detail}")[:200],
            raised_at=now)
        try:
            outbox.add(report)
            # Remembered across a restart, so that the centre always gets the restore.
            outbox.set_outage(name, started)
        except Exception:
            log.exception("arc: could not queue the link notice (the log line stands)")

    async def _supervise(self, receiver: _Receiver) -> None:
        while True:
            try:
                interval = receiver.link.supervision_interval
                due = (receiver.last_answer + interval if receiver.up
                       else receiver.retry_at)
                delay = due - time.monotonic()
                if delay > 0:
                    receiver.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await receiver.wake.wait()
                    continue
                await self._link_test(receiver)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("arc: supervision of %s failed (continuing)",
                              receiver.link.name)
                await asyncio.sleep(self.config.retry_backoff_initial)

    async def _link_test(self, receiver: _Receiver) -> None:
        outcome = await receiver.link.link_test(self._require_outbox().take_number())
        if outcome.answered:
            # Whatever it said, the receiver is there (a DC-09 NAK resynced the link's clock
            # for the next one).
            self._link_answered(receiver)
        else:
            log.info("arc: link test to %s failed: %s", receiver.link.name, outcome.detail)
            self._link_failed(receiver, outcome)
