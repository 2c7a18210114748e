"""Log lines for rejected input that a peer can repeat at will, at a bounded rate.

Whoever sends the hub a frame (a device, or someone with a device's key) or answers its alarm
link decides how often a rejection happens; one log line each would let them write the hub's SD
card full (2,000 frames with a reused sequence number wrote 366 KB). So per subject (a device, a
receiver) and reason: the first rejection is logged at once, with its details; the rest of the
interval is only counted, and when the interval ends one line gives the exact count. A flood
that goes on costs one line per interval. The counters elsewhere (``trygg hub rejections``, the
link counters) stay exact: this only decides what is written to the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    suppressed: int = 0


class RejectionLog:
    def __init__(self, logger: logging.Logger, interval_s: float,
                 clock: Callable[[], float] = time.monotonic, level: int = logging.WARNING
                 ) -> None:
        self.log = logger
        self.interval_s = interval_s
        self.clock = clock
        self.level = level
        self._windows: dict[tuple[str, str], _Window] = {}
        self.lines = 0  # lines written (tests)

    def note(self, subject: str, reason: str, message: str, *args: object,
             exc_info: bool = False, now: float | None = None) -> None:
        """One rejection. ``message % args`` is logged only if it is the first of its subject
        and reason in the current interval."""
        now = self.clock() if now is None else now
        key = (subject, reason)
        window = self._windows.get(key)
        if window is not None and now - window.started >= self.interval_s:
            self._summarise(key, window, now)
            window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now)
            self.lines += 1
            self.log.log(self.level, message + " (further %s from %s: one line per %g s)",
                         *args, reason, subject or "unknown devices", self.interval_s,
                         exc_info=exc_info)
            return
        window.suppressed += 1

    def flush(self, now: float | None = None) -> None:
        """Write the summaries of intervals that have ended (called on the hub's tick)."""
        now = self.clock() if now is None else now
        for key, window in list(self._windows.items()):
            if now - window.started >= self.interval_s:
                self._summarise(key, window, now)

    def _summarise(self, key: tuple[str, str], window: _Window, now: float) -> None:
        if window.suppressed == 0:
            del self._windows[key]  # quiet for a whole interval: the next one is logged at once
            return
        subject, reason = key
        self.lines += 1
        self.log.log(self.level, "%s: %d more rejected as %s in the last %.0f s",
                     subject or "unknown devices", window.suppressed, reason,
                     now - window.started)
        # Still going: the next interval starts now and is summarised in turn.
        self._windows[key] = _Window(now)
