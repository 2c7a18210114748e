"""The operator table: Trygg alarm kinds as SIA event codes and Contact ID events.

This is data, read by the encoder (what goes on the wire), by ``trygg arc listen`` (how an
event is put into words) and by the README's operator section (``operator_table_markdown``;
a test keeps the README in step with this table).

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


@dataclass(frozen=True)
class AlarmCode:
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

URGENCY = {
    1: "IMMEDIATE: act now, life at risk",
    2: "URGENT: call the resident now, dispatch if no answer",
    3: "SOON: call the resident within minutes",
    4: "TODAY: follow up with the care team",
    5: "TECHNICAL: arrange a service visit",
}

CODES: dict[str, AlarmCode] = {c.kind: c for c in (
    AlarmCode(
        "fire", "FIRE", "FA", "FH", 110, "Fire",
        1, URGENCY[1],
        "A smoke alarm in the home has gone off.",
        "Smoke or fire in the room named. The resident may be unable to leave unaided: "
        "alert the fire service (112) at once, then call the resident.",
    ),
    AlarmCode(
        "device_fall", "FALL DETECTED", "MA", "MH", 100, "Medical",
        2, URGENCY[2],
        "A fall detector worn or mounted in the home registered a fall.",
        "The resident has probably fallen and may be lying on the floor, possibly hurt. "
        "Call the resident; if there is no clear answer, send help.",
    ),
    AlarmCode(
        "possible_fall", "POSSIBLE FALL", "MA", "MH", 100, "Medical",
        2, URGENCY[2],
        "Bed and motion sensors show a pattern that usually means a fall: for example the "
        "resident left the bed at night and neither came back nor moved elsewhere.",
        "The resident may be on the floor between bed and bathroom, or unwell out of "
        "sensor view. Call the resident; if there is no clear answer, send help.",
    ),
    AlarmCode(
        "assistance", "ASSISTANCE REQUESTED", "QA", "QH", 101, "Personal emergency",
        2, URGENCY[2],
        "The resident asked for help (alarm button or call point).",
        "The resident is conscious and wants help now: call back and talk to them.",
    ),
    AlarmCode(
        "inactivity", "NO ACTIVITY", "MS", "MR", 102, "Fail to report in",
        3, URGENCY[3],
        "No movement has been seen in the home for longer than this resident's set limit.",
        "The resident may be ill, asleep in an unusual place, or out without the hub "
        "knowing. Call the resident; follow the care plan if there is no answer.",
    ),
    AlarmCode(
        "not_up", "NOT UP", "MS", "MR", 102, "Fail to report in",
        3, URGENCY[3],
        "The resident has not got out of bed by the time set in the care plan.",
        "The resident may be ill or too weak to get up. Call the resident.",
    ),
    AlarmCode(
        "missed_dose", "MISSED MEDICATION", "MT", "MJ", 150, "24-hour auxiliary",
        4, URGENCY[4],
        "A dose in the medicine dispenser was not taken within its time window.",
        "The resident forgot or could not take the medicine. Remind them by phone or "
        "tell the home-care team.",
    ),
    AlarmCode(
        "dispenser_problem", "DISPENSER PROBLEM", "ET", "ER", 330, "System peripheral trouble",
        5, URGENCY[5],
        "The medicine dispenser reports a fault (jammed, empty, lid open).",
        "Doses may not be available on time: tell the home-care team to check it.",
    ),
    AlarmCode(
        "device_silent", "DEVICE SILENT", "EM", "EN", 381, "Loss of supervision (RF)",
        5, URGENCY[5],
        "A sensor in the home has stopped reporting to the hub.",
        "Alarms from that sensor cannot arrive (flat battery, unplugged, out of range). "
        "Arrange a service visit; the zone says which sensor.",
    ),
    AlarmCode(
        "low_battery", "LOW BATTERY", "XT", "XR", 384, "RF low battery",
        5, URGENCY[5],
        "A sensor's battery is low.",
        "The sensor will stop working in days to weeks. Arrange a battery change.",
    ),
    AlarmCode(
        "tamper", "TAMPER", "TA", "TR", 144, "Sensor tamper",
        5, URGENCY[5],
        "A sensor's case was opened or the sensor was removed from its place.",
        "Often a well-meaning relative or a cleaner; the sensor may no longer protect the "
        "resident. Ask the resident or arrange a visit.",
    ),
    AlarmCode(
        "smoke_fault", "SMOKE ALARM FAULT", "FT", "FJ", 373, "Fire trouble",
        5, URGENCY[5],
        "A smoke alarm or its interface reports a fault.",
        "Fire in that room may go undetected. Arrange a visit today.",
    ),
    AlarmCode(
        "rejected_frames", "REJECTED RADIO MESSAGES", "XQ", "XH", 344, "RF receiver jam",
        5, URGENCY[5],
        "The hub is receiving sensor messages it must reject (bad signature or replayed).",
        "Interference, a misconfigured device, or someone trying to fake sensor messages. "
        "Alarms may be blocked: arrange a technical check.",
    ),
    AlarmCode(
        "sensors_unreachable", "SENSORS NOT HEARD", "YS", "YK", 350, "Communication trouble",
        5, URGENCY[5],
        "The hub in the home cannot reach its message broker, so it hears none of the "
        "sensors (the hub itself still reports).",
        "No sensor alarm can arrive from this home until it is restored. Arrange a technical "
        "check today; call the resident if in doubt.",
    ),
    AlarmCode(
        "test", "TEST", "RX", "RX", 601, "Manual trigger test",
        5, "TEST: no action, confirm the link works",
        "A technician or the hub sent a test report.",
        "Nothing is wrong with the resident.",
    ),
    AlarmCode(
        "receiver_unreachable", "ARC LINK DOWN", "YC", "YK", 350, "Communication trouble",
        5, URGENCY[5],
        "The hub could not reach one of its alarm receivers (sent over another path, or "
        "after the link came back).",
        "Alarms still arrive over the other path if there is one. Check the named "
        "receiver and the home's internet connection.",
    ),
)}


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
    """The README's operator table, generated from CODES."""
    lines = [
        "| Trygg alarm | SIA code (raised / resolved) | Contact ID | Urgency | What it means "
        "| The resident's probable situation |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in CODES.values():
        lines.append(
            f"| **{row.title}** (`{row.kind}`) | {row.sia_raised} / {row.sia_resolved} "
            f"| {row.cid_event:03d} {row.cid_name} | {row.priority}: {row.urgency} "
            f"| {row.meaning} | {row.situation} |"
        )
    return "\n".join(lines) + "\n"
