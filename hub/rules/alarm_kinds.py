"""Every alarm kind the hub can report, declared once.

One row per kind: its priority, its class, and the words an operator reads (title, what it
means, the resident's probable situation, what a restore means). Everything else derives from
this table: the rules' priorities (``PRIORITY``), the kinds an alarm report may carry
(``trygg.hub.arc.report``), and the operator tables of the README. The wire codes of each
centre protocol are tabled next to that protocol (``trygg.hub.arc.protocols``), keyed by these
names; ``tests/arc/test_alarm_kinds.py`` fails, naming the table, when a kind has no code in
some protocol, and when the README's tables differ from what this module generates.

Adding a kind: a row here, a code in each protocol's table, the rule that raises it (rules
name kinds through the constants in ``trygg.hub.rules.model``), then paste the regenerated
README tables (the test prints where).

This module imports nothing from the hub: the rules core, the configuration and the centre
link all stand on it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Classes of kind: what the centre does with it, and who raises it.
CARE = "care"  # about the resident: an operator acts on it
TECHNICAL = "technical"  # about the equipment: a service visit or a check
TEST = "test"  # a link test a technician or the hub sent
LINK = "link"  # the hub's own link to the centre (raised by the ARC forwarder)
CLASSES = (CARE, TECHNICAL, TEST, LINK)

PRIORITY_HIGHEST = 1  # fire
PRIORITY_LOWEST = 5  # technical notices

URGENCY = {
    1: "IMMEDIATE: act now, life at risk",
    2: "URGENT: call the resident now, dispatch if no answer",
    3: "SOON: call the resident within minutes",
    4: "TODAY: follow up with the care team",
    5: "TECHNICAL: arrange a service visit",
}
TEST_URGENCY = "TEST: no action, confirm the link works"


@dataclass(frozen=True)
class AlarmKind:
    name: str  # the kind as the rules, the store and every protocol's table name it
    priority: int  # the hub's default priority: 1 = fire ... 5 = technical
    klass: str  # CARE | TECHNICAL | TEST | LINK
    title: str  # the words an operator reads first
    meaning: str
    situation: str  # the resident's probable situation, and what usually helps
    restore: str  # what a "resolved" report of this kind tells the operator

    @property
    def urgency(self) -> str:
        return TEST_URGENCY if self.klass == TEST else URGENCY[self.priority]


KINDS: dict[str, AlarmKind] = {k.name: k for k in (
    AlarmKind(
        "fire", 1, CARE, "FIRE",
        "A smoke alarm in the home has gone off.",
        "Smoke or fire in the room named. The resident may be unable to leave unaided: "
        "alert the fire service (112) at once, then call the resident.",
        "The smoke alarm has gone quiet (smoke cleared, or the alarm was silenced).",
    ),
    AlarmKind(
        "device_fall", 2, CARE, "FALL DETECTED",
        "A fall detector worn or mounted in the home registered a fall.",
        "The resident has probably fallen and may be lying on the floor, possibly hurt. "
        "Call the resident; if there is no clear answer, send help.",
        "The fall alarm was closed at the hub (by the resident or a carer).",
    ),
    AlarmKind(
        "possible_fall", 2, CARE, "POSSIBLE FALL",
        "The resident is at home, out of bed, and nothing has moved for longer than is usual "
        "for this resident in that room at that hour (learned from the resident's own weeks; "
        "the text says how long, where, and what is usual). Where the home has a call point "
        "that prompts, the resident was asked first and did not answer (text: \"asked 14:02, "
        "no answer\").",
        "The resident may be on the floor in the room named, or unwell out of sensor view. "
        "Call the resident; if there is no clear answer, send help.",
        "The resident moved again or went back to bed.",
    ),
    AlarmKind(
        "assistance", 2, CARE, "ASSISTANCE REQUESTED",
        "The resident asked for help (alarm button or call point).",
        "The resident is conscious and wants help now: call back and talk to them.",
        "The call for help was closed at the hub.",
    ),
    AlarmKind(
        "inactivity", 3, CARE, "NO ACTIVITY",
        "A check: the resident went out and is not back as usual (text: \"Not back as "
        "usual\"), or is not in bed long after the usual bedtime and has been still for a "
        "while (text: \"Not in bed\"). Where the home has a call point that prompts, the "
        "resident was asked first and did not answer.",
        "The resident may be out longer than planned, or have fallen just behind the door "
        "or in a room at night. Call the resident (a mobile phone if out); follow the care "
        "plan if there is no answer.",
        "Movement was seen in the home again.",
    ),
    AlarmKind(
        "not_up", 3, CARE, "NOT UP",
        "The resident is still in bed well past the usual rise time, or has been in bed in "
        "the daytime much longer than the usual naps. Where the home has a call point that "
        "prompts, the resident was asked first and did not answer.",
        "The resident may be ill or too weak to get up. Call the resident.",
        "The resident got out of bed.",
    ),
    AlarmKind(
        "missed_dose", 4, CARE, "MISSED MEDICATION",
        "A dose in the medicine dispenser was not taken within its time window.",
        "The resident forgot or could not take the medicine. Remind them by phone or "
        "tell the home-care team.",
        "The dose was taken after all, or the alarm was closed at the hub.",
    ),
    AlarmKind(
        "dispenser_problem", 5, TECHNICAL, "DISPENSER PROBLEM",
        "The medicine dispenser reports a fault (jammed, empty, lid open).",
        "Doses may not be available on time: tell the home-care team to check it.",
        "The dispenser reports no fault any more.",
    ),
    AlarmKind(
        "device_silent", 5, TECHNICAL, "DEVICE SILENT",
        "A sensor in the home has stopped reporting to the hub.",
        "Alarms from that sensor cannot arrive (flat battery, unplugged, out of range). "
        "Arrange a service visit; the zone says which sensor.",
        "The sensor is reporting again.",
    ),
    AlarmKind(
        "low_battery", 5, TECHNICAL, "LOW BATTERY",
        "A sensor's battery is low.",
        "The sensor will stop working in days to weeks. Arrange a battery change.",
        "The battery is good again (changed or recharged).",
    ),
    AlarmKind(
        "tamper", 5, TECHNICAL, "TAMPER",
        "A sensor's case was opened or the sensor was removed from its place.",
        "Often a well-meaning relative or a cleaner; the sensor may no longer protect the "
        "resident. Ask the resident or arrange a visit.",
        "The sensor is closed and back in place.",
    ),
    AlarmKind(
        "smoke_fault", 5, TECHNICAL, "SMOKE ALARM FAULT",
        "A smoke alarm or its interface reports a fault.",
        "Fire in that room may go undetected. Arrange a visit today.",
        "The smoke alarm reports no fault any more.",
    ),
    AlarmKind(
        "rejected_frames", 5, TECHNICAL, "REJECTED RADIO MESSAGES",
        "The hub is receiving sensor messages it must reject (bad signature or replayed).",
        "Interference, a misconfigured device, or someone trying to fake sensor messages. "
        "Alarms may be blocked: arrange a technical check.",
        "The hub has stopped receiving messages it must reject.",
    ),
    AlarmKind(
        "sensors_unreachable", 5, TECHNICAL, "SENSORS NOT HEARD",
        "The hub in the home cannot reach its message broker, so it hears none of the "
        "sensors (the hub itself still reports).",
        "No sensor alarm can arrive from this home until it is restored. Arrange a technical "
        "check today; call the resident if in doubt.",
        "The hub hears its sensors again.",
    ),
    AlarmKind(
        "test", 5, TEST, "TEST",
        "A technician or the hub sent a test report.",
        "Nothing is wrong with the resident.",
        "(a test has no restore)",
    ),
    AlarmKind(
        "receiver_unreachable", 5, LINK, "ARC LINK DOWN",
        "The hub could not reach one of its alarm receivers (sent over another path, or "
        "after the link came back).",
        "Alarms still arrive over the other path if there is one. Check the named "
        "receiver and the home's internet connection.",
        "The named receiver answers the hub again.",
    ),
)}

# Derived views.
PRIORITY: dict[str, int] = {k.name: k.priority for k in KINDS.values()}
# Kinds the rules raise (care and technical); the forwarder raises LINK kinds, a technician TEST.
RULE_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS.values()
                                    if k.klass in (CARE, TECHNICAL))


def _check() -> None:
    """The table's own invariants, checked at import: a bad row fails every test at once."""
    for kind in KINDS.values():
        if kind.klass not in CLASSES:
            raise ValueError(f"alarm_kinds: {kind.name}: class {kind.klass!r} (one of "
                             f"{', '.join(CLASSES)})")
        if not PRIORITY_HIGHEST <= kind.priority <= PRIORITY_LOWEST:
            raise ValueError(f"alarm_kinds: {kind.name}: priority {kind.priority}")
        if not kind.name.isidentifier() or not kind.name.islower():
            raise ValueError(f"alarm_kinds: {kind.name!r}: use lower_case_words")


_check()


def operator_table_markdown() -> str:
    """The README's operator table (protocol-neutral; each protocol's codes have their own)."""
    lines = [
        "| Trygg alarm | Class | Urgency | What it means | The resident's probable situation "
        "| Resolved means |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k in KINDS.values():
        lines.append(f"| **{k.title}** (`{k.name}`) | {k.klass} | {k.priority}: {k.urgency} "
                     f"| {k.meaning} | {k.situation} | {k.restore} |")
    return "\n".join(lines) + "\n"
