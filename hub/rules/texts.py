"""Alarm texts for the centre: short, self-explaining, and never cut in the middle of a number.

The SIA DC-09 forwarder sends ``"<kind>: <description>"`` in at most 80 characters
(``ALARM_TEXT_MAX`` in hub/arc/forwarder.py; tests/hub/test_rules_texts.py keeps the two in
step). A description is built from clauses, most important first; clauses that do not fit are
left out whole, so what the operator reads is never a fragment.
"""

from __future__ import annotations

from .local_time import LocalDays, at_local

CENTRE_TEXT_MAX = 80
# The longest kind prefix of a care alarm ("possible_fall: ").
_PREFIX = len("possible_fall: ")
DESCRIPTION_MAX = CENTRE_TEXT_MAX - _PREFIX


def duration(seconds: float) -> str:
    """``"32 min"``, ``"1 h 5 min"``, ``"5 h"`` (rounded to the minute)."""
    minutes = max(0, round(seconds / 60.0))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def clock(days: LocalDays, t: float) -> str:
    """Local wall-clock time of ``t`` as HH:MM."""
    day = days.day_of(t)
    minutes = int((t - at_local(days.zone, day, 0, 0)) // 60)
    if minutes >= 24 * 60:  # the 25-hour day the clocks go back
        minutes -= 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def clock_of(seconds_after_midnight: float) -> str:
    minutes = int(seconds_after_midnight // 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def fit(*clauses: str, limit: int = DESCRIPTION_MAX) -> str:
    """Join clauses with "; ", leaving out whole clauses (from the last) that do not fit. The
    first is kept; if it alone is too long it is shortened at a space, never inside a word or
    a number."""
    text = clauses[0]
    for clause in clauses[1:]:
        if clause and len(text) + 2 + len(clause) <= limit:
            text += "; " + clause
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[:cut if cut > 0 else limit].rstrip(" ;,")
