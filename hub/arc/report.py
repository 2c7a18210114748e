"""The alarm report: what the hub hands the ARC forwarder, and what the outbox stores.

One report is one thing the centre must learn: an alarm raised, an alarm resolved, or a test.
The (alarm_id, event) pair is the report's identity: submitting the same pair twice stores it
once, and every transmission of it (retries, failover, after a crash) carries the same DC-09
sequence number, so the centre can discard duplicates.
"""

from __future__ import annotations

import json
import math
import string
from dataclasses import asdict, dataclass
from typing import Any

from ..rules.alarm_kinds import KINDS as ALL_KINDS
from ..rules.alarm_kinds import LINK, PRIORITY_HIGHEST, PRIORITY_LOWEST, RULE_KINDS

EVENTS = ("raised", "resolved", "test")

# Alarm kinds the hub's rules produce, and the technician's test (the contract with the hub);
# all declared in trygg.hub.rules.alarm_kinds, with their priorities and operator texts.
KINDS = (*RULE_KINDS, "test")

# Kinds the forwarder itself raises (a receiver stopped answering, and came back).
FORWARDER_KINDS = tuple(k.name for k in ALL_KINDS.values() if k.klass == LINK)

# Zone 0 is the hub itself (Contact ID convention: zone 000 = the control panel); devices
# use 1..999, the three-digit zone field of Contact ID and of the SIA address.
ZONE_MAX = 999

MAX_ALARM_ID = 128
MAX_DESCRIPTION = 200
MAX_ROOM = 64
MAX_DEVICE_ID = 64


class ReportError(ValueError):
    """A report field is invalid; the message names the field."""


def _check_text(name: str, value: object, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ReportError(f"AlarmReport.{name}: expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise ReportError(f"AlarmReport.{name}: {len(value)} characters, at most {limit}")
    if any(ch in "\r\n\x00" for ch in value):
        raise ReportError(f"AlarmReport.{name}: contains a line break or NUL")


def normalise_account(account: str, where: str) -> str:
    """DC-09 §5.5.1.6: an account is 3-16 hex digits; returned upper case."""
    if not isinstance(account, str) or not 3 <= len(account) <= 16 or any(
        ch not in string.hexdigits for ch in account
    ):
        raise ReportError(f"{where}: {account!r} is not an ARC account (3-16 hex digits, "
                          "SIA DC-09 §5.5.1.6)")
    return account.upper()


@dataclass(frozen=True)
class AlarmReport:
    """One report for the centre (see the module docstring for identity rules).

    Raises ReportError (a ValueError) naming the field when a value is out of range.
    """

    alarm_id: str
    event: str
    kind: str
    priority: int
    account: str
    zone: int
    room: str | None
    device_id: str | None
    description: str
    raised_at: float

    def __post_init__(self) -> None:
        _check_text("alarm_id", self.alarm_id, MAX_ALARM_ID)
        if not self.alarm_id:
            raise ReportError("AlarmReport.alarm_id: empty")
        if self.event not in EVENTS:
            raise ReportError(f"AlarmReport.event: {self.event!r} (one of {', '.join(EVENTS)})")
        if self.kind not in KINDS and self.kind not in FORWARDER_KINDS:
            raise ReportError(f"AlarmReport.kind: unknown kind {self.kind!r} "
                              f"(kinds: {', '.join(KINDS)})")
        if (self.event == "test") != (self.kind == "test"):
            raise ReportError("AlarmReport.event: 'test' goes with kind 'test' and only with it")
        if (not isinstance(self.priority, int) or isinstance(self.priority, bool)
                or not PRIORITY_HIGHEST <= self.priority <= PRIORITY_LOWEST):
            raise ReportError(f"AlarmReport.priority: {self.priority!r} (1 = fire ... 5 = "
                              "technical)")
        object.__setattr__(self, "account", normalise_account(self.account,
                                                              "AlarmReport.account"))
        if (not isinstance(self.zone, int) or isinstance(self.zone, bool)
                or not 0 <= self.zone <= ZONE_MAX):
            raise ReportError(f"AlarmReport.zone: {self.zone!r} (1..{ZONE_MAX}; 0 = the hub)")
        _check_text("room", self.room, MAX_ROOM, optional=True)
        _check_text("device_id", self.device_id, MAX_DEVICE_ID, optional=True)
        _check_text("description", self.description, MAX_DESCRIPTION)
        if (not isinstance(self.raised_at, int | float) or isinstance(self.raised_at, bool)
                or not math.isfinite(self.raised_at) or self.raised_at < 0):
            raise ReportError(f"AlarmReport.raised_at: {self.raised_at!r} (UTC epoch seconds)")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlarmReport:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


# The mark at the end of a shortened text, in ASCII: every centre protocol carries it.
CUT_MARK = "..."
_CUT_AFTER = " ,;:-("  # nothing of these is left dangling before the mark


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters for a centre protocol's free-text field.

    A text that fits is returned whole. A longer one is cut at the last space that leaves room
    for ``CUT_MARK`` and marked with it, so the operator never reads a cut word or number as
    a whole one ("no motion for 0." for "0.25 min"). Nor does it end on a number, which without
    its unit and before the mark reads as cut too. Only a single word longer than the field is
    cut inside itself.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    room = limit - len(CUT_MARK)
    if room <= 0:
        return text[:limit]
    cut = text.rfind(" ", 0, limit + 1)
    while cut > 0 and len(text[:cut].rstrip(_CUT_AFTER)) > room:
        cut = text.rfind(" ", 0, cut)
    words = text[:cut].split(" ") if cut > 0 else []
    while len(words) > 1 and any(ch.isdigit() for ch in words[-1]):
        words.pop()
    head = " ".join(words).rstrip(_CUT_AFTER)
    return (head or text[:room]) + CUT_MARK


def restore_description(description: str, reason: str) -> str:
    """The description of a resolved alarm: why it ended first, so that a field that must
    shorten the text keeps that, then what the alarm was."""
    return f"{reason} - {description}"
