"""Injected falls: a recording cut at the moment the resident falls, with total stillness after.

After the fall nothing the resident causes is recorded: no motion, no door, the bed stays as it
was (empty: people fall when they are up), no button. The devices go on working, so their
heartbeats continue (with no triggers counted). Hub-made events after the fall are dropped as
well (nobody marks the resident away).

Where falls are injected comes from the recording: ``about["fall_moments"]`` lists candidate
moments as ``[time, category, room]`` (the synthetic generator and the dataset importers write
them from their ground truth, only when nobody else is in the home). :func:`select` picks a
systematic sample per category.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .recording import Recording, RecordingError, SentMessage

# The question after a fall: is it alarmed within 30 minutes, and at all within a day.
HORIZON_S = 86400.0


@dataclass(frozen=True, slots=True)
class Moment:
    t: float
    category: str
    room: str | None


def moments(rec: Recording) -> list[Moment]:
    """The recording's candidate fall moments, checked, in time order."""
    raw = rec.about.get("fall_moments", [])
    out: list[Moment] = []
    if not isinstance(raw, list):
        raise RecordingError(f"{rec.origin}: about.fall_moments: a list of [time, category, "
                             "room]")
    for i, m in enumerate(raw):
        ok = (isinstance(m, list) and len(m) == 3 and isinstance(m[0], int | float)
              and not isinstance(m[0], bool) and isinstance(m[1], str)
              and (m[2] is None or isinstance(m[2], str)))
        if not ok or not rec.start <= m[0] <= rec.end:
            raise RecordingError(f"{rec.origin}: about.fall_moments[{i}]: {m!r} is not "
                                 "[time within the recording, category, room]")
        out.append(Moment(float(m[0]), m[1], m[2]))
    out.sort(key=lambda m: m.t)
    return out


def select(candidates: Sequence[Moment], per_category: int) -> list[Moment]:
    """Up to ``per_category`` moments of each category, evenly spread over the recording's
    candidates of that category (a systematic sample: deterministic, no clustering)."""
    by_category: dict[str, list[Moment]] = defaultdict(list)
    for m in candidates:
        by_category[m.category].append(m)
    chosen: list[Moment] = []
    for ms in by_category.values():
        n = len(ms)
        k = min(per_category, n)
        chosen += [ms[int((i + 0.5) * n / k)] for i in range(k)]
    chosen.sort(key=lambda m: m.t)
    return chosen


def cut(rec: Recording, fall_at: float, horizon_s: float = HORIZON_S) -> Recording:
    """The recording as it would be had the resident fallen at ``fall_at`` and lain still for
    ``horizon_s``: every observation and hub event after the fall removed; of the messages of
    sending devices only heartbeats kept (their trigger counts zeroed), repeated at the device's
    interval past the recording's end."""
    end = fall_at + horizon_s
    observations = [o for o in rec.observations if o.t <= fall_at]
    kept: list[SentMessage] = []
    last_beat: dict[str, list[SentMessage]] = defaultdict(list)
    for m in rec.messages:
        if m.t <= fall_at:
            kept.append(m)
        elif m.msg.get("type") == "heartbeat" and m.t <= end:
            msg = dict(m.msg)
            if "triggers" in msg:
                msg["triggers"] = 0
            kept.append(replace(m, msg=msg))
        if m.msg.get("type") == "heartbeat" and m.t <= end:
            last_beat[m.device_id].append(m)
    if end > rec.end:
        top: dict[str, int] = {}
        for m in rec.messages:
            if m.seq is not None:
                top[m.device_id] = max(top.get(m.device_id, 0), m.seq)
        kept += _beats_beyond(last_beat, top, rec.end, end)
    hub_events = [h for h in rec.hub_events if h.t <= fall_at]
    return replace(rec, end=end, observations=observations, messages=kept,
                   hub_events=hub_events)


def _beats_beyond(beats: dict[str, list[SentMessage]], top_seq: dict[str, int], after: float,
                  end: float) -> list[SentMessage]:
    """Heartbeats of sending devices past the recording's end: the last one repeated at the
    device's usual interval (the median of its recorded intervals)."""
    out: list[SentMessage] = []
    for device_id, ms in beats.items():
        if len(ms) < 2:
            continue
        period = statistics.median(b.t - a.t for a, b in itertools.pairwise(ms))
        if period <= 0:
            continue
        last = ms[-1]
        seq = top_seq.get(device_id)
        t = last.t + period
        n = 1
        while t <= end:
            if t > after:
                msg = dict(last.msg)
                if "triggers" in msg:
                    msg["triggers"] = 0
                for key in ("uptime", "time"):
                    if key in msg:
                        msg[key] = int(msg[key] + n * period)
                out.append(SentMessage(t, device_id, None if seq is None else seq + n, msg))
            t += period
            n += 1
    return out
