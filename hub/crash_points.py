"""Named instants at which a durability test may have the hub killed (SIGKILL, as kill -9).

A store-and-forward path is only proven by killing it at every step, and some steps (an
answer read but not yet recorded) last microseconds: no outside observer can hit them. So the
steps of alarm delivery are named here, and a test starts the hub with ``TRYGG_CRASH_AT`` set
to one name (or several, comma-separated); when the hub reaches that point it kills itself
with SIGKILL, leaving disk and peers exactly as a power cut or kill -9 would. Without the
variable (always, in a home) ``crash_point`` is a set lookup and nothing else.

The points of one alarm's delivery, in order:

- ``alarm.stored``: the alarm row is committed (raised), not yet in the ARC outbox;
- ``alarm.queued``: the report is committed in the outbox, the alarm not yet marked forwarded;
- ``alarm.forwarded``: the alarm is marked forwarded;
- ``arc.sending``: the forwarder is about to transmit the report;
- ``arc.answered``: the receiver's answer says delivered, the outbox does not know yet;
- ``arc.delivered``: the outbox has recorded the delivery, the alarm is not yet acknowledged.

And of its resolution: ``alarm.resolve_queued``: the "resolved" report is in the outbox, the
alarm not yet recorded resolved.

And of ingest: ``ingest.next_batch``: the acks of every batch so far have reached the broker,
the next batch is about to be stored. Named with a count, ``ingest.next_batch@3``, it fires
the third time: after two batches of a burst were stored and acked, before the rest.

And of an SOS Access password rotation: ``sos.rotation_answered``: the receiver gave a new
password, the old one is saved as ``.previous``, the new one not yet written.
"""

from __future__ import annotations

import os
import signal

ENV = "TRYGG_CRASH_AT"
POINTS = ("alarm.stored", "alarm.queued", "alarm.forwarded", "arc.sending", "arc.answered",
          "arc.delivered")
RESOLVE_POINTS = ("alarm.resolve_queued",)


def _parse(value: str) -> dict[str, int]:
    """``name`` or ``name@N`` (fire on the N-th time) for each comma-separated entry."""
    armed: dict[str, int] = {}
    for entry in (p.strip() for p in value.split(",")):
        if not entry:
            continue
        name, _, count = entry.partition("@")
        if count and not (count.isdigit() and int(count) >= 1):
            raise SystemExit(f"{ENV}: {entry!r}: the count after @ must be a whole number >= 1")
        armed[name] = int(count) if count else 1
    return armed


_ARMED = _parse(os.environ.get(ENV, ""))
_SEEN: dict[str, int] = {}


def armed(name: str) -> bool:
    """True if ``TRYGG_CRASH_AT`` names ``name`` (a test wants this instant)."""
    return name in _ARMED


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``TRYGG_CRASH_AT`` names ``name`` (at its count)."""
    if name in _ARMED:
        _SEEN[name] = _SEEN.get(name, 0) + 1
        if _SEEN[name] >= _ARMED[name]:
            os.kill(os.getpid(), signal.SIGKILL)
