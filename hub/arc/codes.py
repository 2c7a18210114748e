"""DC-09's code table: Trygg alarm kinds (``trygg.hub.rules.alarm_kinds``) as SIA event codes and
Contact ID events.

This is data, read by the encoder (what goes on the wire), by ``trygg arc listen`` (how an
event is put into words) and by the README's DC-09 code table (``operator_table_markdown``;
a test keeps the README in step with this table). Titles, priorities and texts come from
``trygg.hub.rules.alarm_kinds``; only the codes are DC-09's own.

Choices, for the record:
- SIA codes are two-letter codes of SIA DC-03 (the SIA-DCS payload of DC-09); Contact ID events
  are three-digit codes of SIA DC-05 (the ADM-CID payload). Neither standard has welfare-specific
  codes, so resident events use the Medical (M*, 100) and Emergency (Q*, 101) families, and
  technical notices the trouble codes of the device class concerned.
- The zone is the device's zone (1..999); zone 0 is the hub itself. SIA-DCS also carries the
  room, the time the alarm was raised and a short text as DC-09 extended data ([R], [H], [I]);
  Contact ID has room for numbers only, so the centre's zone list must name the rooms.
- Raised and resolved use the SIA alarm/restore code pair, and Contact ID qualifier 1 (new
  event) / 3 (restore); tests use qualifier 1 with a test event.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rules.alarm_kinds import KINDS, URGENCY

__all__ = ["CODES", "DC09_CODES", "URGENCY", "AlarmCode", "cid_qualifier", "from_cid",
           "from_sia", "operator_table_markdown", "sia_code"]


@dataclass(frozen=True)
class AlarmCode:
    """One kind as a DC-09 centre sees it: its SIA and Contact ID codes, with the words of
    ``trygg.hub.rules.alarm_kinds`` (title, priority, urgency, meaning, situation) alongside."""

    kind: str
    title: str  # the words an operator reads first
    sia_raised: str
    sia_resolved: str
    cid_event: int
    cid_name: str
    priority: int  # the hub's default priority for this kind: 1 = fire ... 5 = technical
    urgency: str
    meaning: str
    situation: str  # the resident's probable situation, and what usually helps


# Contact ID event qualifiers (SIA DC-05): 1 = new event / opening, 3 = restore / closing.
CID_NEW_EVENT = 1
CID_RESTORE = 3

# kind -> (SIA raised, SIA resolved, Contact ID event, its name in SIA DC-05). Every kind of
# trygg.hub.rules.alarm_kinds needs a row (tests/arc/test_alarm_kinds.py holds them together).
DC09_CODES: dict[str, tuple[str, str, int, str]] = {
    "fire": ("FA", "FH", 110, "Fire"),
    "device_fall": ("MA", "MH", 100, "Medical"),
    "possible_fall": ("MA", "MH", 100, "Medical"),
    "assistance": ("QA", "QH", 101, "Personal emergency"),
    "inactivity": ("MS", "MR", 102, "Fail to report in"),
    "not_up": ("MS", "MR", 102, "Fail to report in"),
    "missed_dose": ("MT", "MJ", 150, "24-hour auxiliary"),
    "dispenser_problem": ("ET", "ER", 330, "System peripheral trouble"),
    "device_silent": ("EM", "EN", 381, "Loss of supervision (RF)"),
    "low_battery": ("XT", "XR", 384, "RF low battery"),
    "tamper": ("TA", "TR", 144, "Sensor tamper"),
    "smoke_fault": ("FT", "FJ", 373, "Fire trouble"),
    "rejected_frames": ("XQ", "XH", 344, "RF receiver jam"),
    "sensors_unreachable": ("YS", "YK", 380, "Sensor trouble"),
    "test": ("RX", "RX", 601, "Manual trigger test"),
    "receiver_unreachable": ("YC", "YK", 350, "Communication trouble"),
}

CODES: dict[str, AlarmCode] = {
    name: AlarmCode(name, KINDS[name].title, sia_raised, sia_resolved, cid_event, cid_name,
                    KINDS[name].priority, KINDS[name].urgency, KINDS[name].meaning,
                    KINDS[name].situation)
    for name in KINDS if name in DC09_CODES
    for sia_raised, sia_resolved, cid_event, cid_name in [DC09_CODES[name]]}


def sia_code(kind: str, event: str) -> str:
    """The two-letter SIA code for a report (KeyError for an unknown kind)."""
    code = CODES[kind]
    return code.sia_resolved if event == "resolved" else code.sia_raised


def cid_qualifier(event: str) -> int:
    return CID_RESTORE if event == "resolved" else CID_NEW_EVENT


def from_sia(code: str) -> tuple[AlarmCode, str] | None:
    """(table row, 'raised'|'resolved') for a SIA code this table uses; None otherwise.

    Kinds sharing a code (the two falls) return the first row; the zone and the [I] text tell
    them apart.
    """
    for row in CODES.values():
        if code == row.sia_raised:
            return row, ("test" if row.kind == "test" else "raised")
        if code == row.sia_resolved:
            return row, "resolved"
    return None


def from_cid(event_code: int, qualifier: int) -> tuple[AlarmCode, str] | None:
    for row in CODES.values():
        if row.cid_event == event_code:
            if row.kind == "test":
                return row, "test"
            return row, ("resolved" if qualifier == CID_RESTORE else "raised")
    return None


def operator_table_markdown() -> str:
    """The README's DC-09 code table, generated from CODES."""
    lines = [
        "| Trygg alarm | SIA code (raised / resolved) | Contact ID |",
        "| --- | --- | --- |",
    ]
    for row in CODES.values():
        lines.append(f"| {row.title} (`{row.kind}`) | {row.sia_raised} / {row.sia_resolved} "
                     f"| {row.cid_event:03d} {row.cid_name} |")
    return "\n".join(lines) + "\n"
