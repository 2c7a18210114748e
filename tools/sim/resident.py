"""Synthetic residents: a month of daily life in a flat as raw sensor observations, seeded.

Each profile is an older person living alone with a different routine (early riser who naps,
evenings in front of the television, late riser with long baths, restless nights with many
toilet visits, someone who is out a lot), with visitors, home-care visits and now and then a
second person staying over. The flat has a PIR motion unit in the bedroom, bathroom, kitchen,
living room and hall (the hall unit has the entrance door's reed contact) and a pressure mat in
the bed.

What a PIR sees depends on what the person does: walking between rooms triggers every few
seconds, cooking every ten to twenty, a person sitting still in front of the television or
lying in the bath only when they shift (minutes apart, sometimes half an hour), a sleeper only
when turning over, and not every turn (HC-SR501-type sensors ignore small movements under a
duvet). A PIR cannot trigger again within ~2.5 s of a trigger (its block time).

The output is a :class:`trygg.hub.replay.recording.Recording` whose ``about`` lists the moments
where a fall can be injected (``about["fall_moments"]``: [time, category, room]), taken from
the generator's own ground truth: only moments when nobody else is in the flat.

``generate(profile, seed, days)`` is deterministic: the same arguments give the same recording
on any machine (``random.Random`` seeded with a string, no global state).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from trygg.hub.replay.recording import DeviceSpec, Observation, Recording

ZONE = "Europe/Oslo"
# A Monday in winter, so weekdays and weekends fall the same way in every recording.
FIRST_DAY = dt.date(2025, 1, 6)

ROOMS = ("bedroom", "bathroom", "kitchen", "living_room", "hall")
BATHROOM, BEDROOM, KITCHEN, LIVING, HALL = "bathroom", "bedroom", "kitchen", "living_room", "hall"

# Mean seconds between PIR triggers per activity (exponential gaps), and for still activities a
# share of long pauses (mean in seconds): a person watching television or lying in the bath
# shifts every few minutes, and sometimes not for half an hour.
PIR_GAP_S: dict[str, tuple[float, float, float]] = {
    # activity: (mean gap, share of long pauses, mean long pause)
    "walk": (3.0, 0.0, 0.0),
    "cook": (15.0, 0.0, 0.0),
    "chores": (12.0, 0.0, 0.0),
    "eat": (70.0, 0.1, 300.0),
    "wash": (12.0, 0.0, 0.0),
    "toilet": (50.0, 0.1, 180.0),
    "dress": (15.0, 0.0, 0.0),
    "bath": (300.0, 0.3, 900.0),
    "tv": (200.0, 0.3, 1000.0),
    "read": (240.0, 0.3, 1000.0),
    "doze": (900.0, 0.5, 1800.0),  # asleep in the chair
    "visit": (45.0, 0.0, 0.0),  # talking with a visitor: two people, shifting, gesturing
    "guest_sleep": (3600.0, 0.0, 0.0),
    "hall": (4.0, 0.0, 0.0),
}
PIR_BLOCK_S = 2.5
# A sleeper turns over every 20-40 min; a PIR aimed at the room sees one turn in four.
TURN_MEAN_S = 1800.0
TURN_SEEN = 0.25

CATEGORIES = ("night_bed_exit", "bathroom", "daytime_bedroom", "daytime_kitchen",
              "daytime_living_room", "daytime_hall", "after_return", "after_door_close",
              "morning_rise")


@dataclass(frozen=True)
class Profile:
    name: str
    about: str
    rise: tuple[float, float]  # local hour, sd minutes
    bedtime: tuple[float, float]  # local hour (may be > 24), sd minutes
    night_visits: tuple[float, ...]  # weights of 0, 1, 2, 3, 4 toilet visits a night
    night_visit_min: tuple[float, float]
    nap_p: float
    nap_in_bed: float  # share of naps taken in bed (else dozing in the chair)
    nap_min: tuple[float, float]
    leisure_min: tuple[float, float]  # a stretch in the living room (TV, reading)
    bath_p: float
    bath_min: tuple[float, float]
    outing_p: float  # per day
    outing_min: tuple[float, float]  # log-uniform between
    evening_out_p: float = 0.0  # dinner with friends, 18:00-23:00
    overnight_away_p: float = 0.0  # a night at the family's
    care_visits: tuple[float, ...] = ()  # local hours of daily home-care visits
    family_visit_p: float = 0.1  # per day (weekend days x2)
    guest_p: float = 0.0  # a second person arrives to stay 1-3 days
    mail_p: float = 0.6  # fetches the mail (door open and close, stays inside)
    mat_dropout_p: float = 0.0  # per night: the mat loses the sleeper for 1-3 h
    insomnia_p: float = 0.05  # per night: up for 30-90 min, tea and a book in the living room
    sofa_sleep_p: float = 0.0  # per evening: asleep in the chair for 1-3 h before going to bed
    lie_in_p: float = 0.04  # per morning: stays in bed 1.5-3 h longer (a poor night, a cold)


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("early_napper", "82, up at six, home care every morning, naps after lunch",
            rise=(6.0, 25), bedtime=(21.5, 20), night_visits=(0.1, 0.35, 0.35, 0.15, 0.05),
            night_visit_min=(3, 8), nap_p=0.9, nap_in_bed=0.6, nap_min=(45, 100),
            leisure_min=(30, 90), bath_p=0.1, bath_min=(25, 40), outing_p=0.5,
            outing_min=(40, 120), care_visits=(8.75,), family_visit_p=0.15, guest_p=0.02,
            mail_p=0.8),
    Profile("tv_evenings", "78, hours in front of the television, to bed near midnight",
            rise=(8.5, 30), bedtime=(23.75, 30), night_visits=(0.4, 0.4, 0.15, 0.05, 0.0),
            night_visit_min=(3, 7), nap_p=0.35, nap_in_bed=0.0, nap_min=(20, 60),
            leisure_min=(90, 240), bath_p=0.15, bath_min=(30, 50), outing_p=0.3,
            outing_min=(30, 90), family_visit_p=0.2, guest_p=0.03, sofa_sleep_p=0.2,
            insomnia_p=0.08),
    Profile("late_riser", "74, rises after ten, long baths, out for hours with friends",
            rise=(10.25, 30), bedtime=(25.0, 30), night_visits=(0.5, 0.35, 0.15, 0.0, 0.0),
            night_visit_min=(3, 6), nap_p=0.1, nap_in_bed=0.5, nap_min=(30, 60),
            leisure_min=(45, 150), bath_p=0.45, bath_min=(45, 80), outing_p=0.6,
            outing_min=(60, 360), evening_out_p=0.15, family_visit_p=0.1, guest_p=0.05,
            mail_p=0.4),
    Profile("restless_nights", "86, three or four toilet visits a night, dozes in the chair",
            rise=(7.0, 30), bedtime=(22.5, 30), night_visits=(0.0, 0.1, 0.3, 0.35, 0.25),
            night_visit_min=(5, 20), nap_p=0.7, nap_in_bed=0.2, nap_min=(20, 60),
            leisure_min=(40, 120), bath_p=0.25, bath_min=(40, 70), outing_p=0.35,
            outing_min=(30, 120), care_visits=(8.5, 20.0), family_visit_p=0.1,
            mat_dropout_p=0.1, insomnia_p=0.15, sofa_sleep_p=0.05),
    Profile("active_outgoer", "71, out most days, some whole days, a partner stays over",
            rise=(6.75, 20), bedtime=(22.75, 30), night_visits=(0.3, 0.5, 0.2, 0.0, 0.0),
            night_visit_min=(3, 6), nap_p=0.1, nap_in_bed=0.3, nap_min=(20, 45),
            leisure_min=(30, 90), bath_p=0.1, bath_min=(30, 45), outing_p=0.9,
            outing_min=(45, 540), overnight_away_p=0.04, family_visit_p=0.1, guest_p=0.05,
            mail_p=0.6),
)}


@dataclass
class Stay:
    """The resident in one room (None: out of the flat) doing one thing."""

    start: float
    end: float
    room: str | None
    activity: str


@dataclass
class _Home:
    rng: random.Random
    zone: zoneinfo.ZoneInfo
    stays: list[Stay] = field(default_factory=list)
    extra: list[tuple[float, str]] = field(default_factory=list)  # other people's triggers
    bed: list[tuple[float, bool]] = field(default_factory=list)
    door: list[tuple[float, bool]] = field(default_factory=list)
    company: list[tuple[float, float]] = field(default_factory=list)  # someone else home
    moments: list[tuple[float, str, str]] = field(default_factory=list)
    night_toilet_visits: int = 0
    sleepless_nights: int = 0
    sofa_nights: int = 0
    lie_ins: int = 0
    t: float = 0.0

    def at(self, day: dt.date, hours: float) -> float:
        base = dt.datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return (base + dt.timedelta(hours=hours)).timestamp()

    def stay(self, room: str | None, activity: str, seconds: float) -> Stay:
        s = Stay(self.t, self.t + max(1.0, seconds), room, activity)
        self.stays.append(s)
        self.t = s.end
        return s

    def moment(self, t: float, category: str, room: str) -> None:
        self.moments.append((t, category, room))


def _minutes(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi) * 60.0


def _log_minutes(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi))) * 60.0


def _night(h: _Home, p: Profile, until: float) -> None:
    """In bed from h.t to ``until`` with toilet visits and now and then a sleepless hour in the
    living room; the bed mat may lose the sleeper."""
    rng = h.rng
    n = rng.choices(range(len(p.night_visits)), weights=p.night_visits)[0]
    span = until - h.t
    wakes = [(h.t + rng.uniform(0.1, 0.9) * span, "toilet") for _ in range(n)]
    if rng.random() < p.insomnia_p:
        wakes.append((h.t + rng.uniform(0.2, 0.6) * span, "sleepless"))
    for at, why in sorted(wakes):
        if at <= h.t + 600 or at >= until - 600:
            continue
        sleep = h.stay(BEDROOM, "sleep", at - h.t)
        _mat_dropout(h, p, sleep)
        h.stay(BEDROOM, "dress", rng.uniform(10, 60))  # sitting up, finding slippers
        h.bed.append((h.t, False))  # stands up
        h.moment(h.t + 5, "night_bed_exit", BEDROOM)
        h.stay(HALL, "hall", rng.uniform(5, 12))
        h.moment(h.t - 3, "night_bed_exit", HALL)
        if why == "toilet":
            h.night_toilet_visits += 1
            visit = h.stay(BATHROOM, "toilet", _minutes(rng, *p.night_visit_min))
            h.moment((visit.start + visit.end) / 2, "bathroom", BATHROOM)
        else:
            h.sleepless_nights += 1
            h.stay(KITCHEN, "cook", _minutes(rng, 3, 6))  # a cup of tea
            _go(h, LIVING, "read", _minutes(rng, 30, 90))
        h.stay(HALL, "hall", rng.uniform(5, 12))
        h.stay(BEDROOM, "dress", rng.uniform(10, 40))
        h.bed.append((h.t, True))  # lies down
    if until > h.t:
        sleep = h.stay(BEDROOM, "sleep", until - h.t)
        _mat_dropout(h, p, sleep)


def _mat_dropout(h: _Home, p: Profile, sleep: Stay) -> None:
    rng = h.rng
    if sleep.end - sleep.start > 3 * 3600 and rng.random() < p.mat_dropout_p:
        length = _minutes(rng, 60, 180)
        begin = rng.uniform(sleep.start + 1800, max(sleep.start + 1800, sleep.end - length))
        h.bed.append((begin, False))
        h.bed.append((min(begin + length, sleep.end - 60), True))


def _go(h: _Home, room: str, activity: str, seconds: float) -> Stay:
    """Walk to ``room`` through the hall (when it is elsewhere) and stay."""
    last = h.stays[-1].room if h.stays else None
    if last not in (None, HALL, room) and room != HALL:
        h.stay(HALL, "walk", h.rng.uniform(4, 10))
    return h.stay(room, activity, seconds)


def _toilet(h: _Home, minutes: tuple[float, float] = (2, 6)) -> None:
    s = _go(h, BATHROOM, "toilet", _minutes(h.rng, *minutes))
    h.moment((s.start + s.end) / 2, "bathroom", BATHROOM)
    _go(h, BATHROOM, "wash", h.rng.uniform(30, 90))


def _leave(h: _Home, seconds: float, activity: str = "out") -> None:
    _go(h, HALL, "hall", h.rng.uniform(30, 120))  # coat and shoes
    h.door.append((h.t, True))
    h.door.append((h.t + h.rng.uniform(3, 8), False))
    h.stay(None, activity, seconds)


def _come_home(h: _Home) -> None:
    rng = h.rng
    h.door.append((h.t, True))
    close = h.t + rng.uniform(4, 10)
    h.door.append((close, False))
    hall = h.stay(HALL, "hall", rng.uniform(60, 180))  # shoes and coat off
    h.moment(close + rng.uniform(5, 20), "after_door_close", HALL)
    h.moment(min(hall.end - 5, close + 60), "after_return", HALL)
    kitchen = _go(h, KITCHEN, "chores", _minutes(rng, 3, 10))  # putting the shopping away
    h.moment(kitchen.start + 60, "after_return", KITCHEN)


def _visit(h: _Home, minutes: float, rooms: tuple[str, ...], carer: bool) -> None:
    """Someone rings: the resident opens, they spend time together, the visitor leaves."""
    rng = h.rng
    _go(h, HALL, "hall", rng.uniform(20, 60))
    h.door.append((h.t - 15, True))
    h.door.append((h.t - 10, False))
    begin = h.t
    room = rooms[0]
    s = _go(h, room, "visit", minutes * 60.0)
    # The visitor moves too: a carer goes from room to room, a guest stays mostly put.
    t = s.start
    while t < s.end:
        t += rng.expovariate(1 / (20.0 if carer else 90.0))
        where = rng.choice(rooms) if carer else room
        if t < s.end:
            h.extra.append((t, where))
    if carer:
        t = s.start + rng.uniform(0.2, 0.6) * (s.end - s.start)
        for _ in range(rng.randint(3, 10)):
            h.extra.append((t, BATHROOM))
            t += rng.uniform(5, 40)
    _go(h, HALL, "hall", rng.uniform(20, 60))
    h.door.append((h.t - 20, True))
    close = h.t - 12
    h.door.append((close, False))
    h.company.append((begin - 15, close))
    h.moment(close + rng.uniform(5, 15), "after_door_close", HALL)


def _guest_stay(h: _Home, start: float, end: float) -> None:
    """A second person in the flat for a day or more: their own motion in the living room and
    kitchen by day, sleeping on the sofa, a night toilet visit through the hall."""
    rng = h.rng
    h.door.append((start, True))
    h.door.append((start + 6, False))
    h.door.append((end, True))
    h.door.append((end + 6, False))
    h.company.append((start, end + 6))
    t = start + 10
    while t < end:
        hour = dt.datetime.fromtimestamp(t, h.zone).hour
        night = hour >= 23 or hour < 7
        if night:
            t += rng.expovariate(1 / 2400.0)
            if t < end:
                h.extra.append((t, LIVING))
            if rng.random() < 0.03:
                for room, dt_s in ((HALL, 5), (BATHROOM, 60), (BATHROOM, 120), (HALL, 200)):
                    if t + dt_s < end:
                        h.extra.append((t + dt_s, room))
        else:
            t += rng.expovariate(1 / 90.0)
            if t < end:
                h.extra.append((t, rng.choice((LIVING, LIVING, KITCHEN, HALL, BATHROOM))))


def _day(h: _Home, p: Profile, day: dt.date, bedtime: float, morning: bool = True) -> None:
    """From the rise (h.t) to ``bedtime``: morning routine, meals, leisure, outings, visits."""
    rng = h.rng
    weekend = day.weekday() >= 5
    anchors: list[tuple[float, str]] = []
    for hour in p.care_visits:
        anchors.append((h.at(day, hour + rng.uniform(-0.25, 0.25)), "care"))
    anchors.append((h.at(day, rng.uniform(11.75, 13.0)), "lunch"))
    anchors.append((h.at(day, rng.uniform(16.5, 18.0)), "dinner"))
    if rng.random() < p.outing_p:
        anchors.append((h.at(day, rng.uniform(9.5, 15.5)), "outing"))
    if rng.random() < p.evening_out_p:
        anchors.append((h.at(day, rng.uniform(18.0, 19.5)), "evening_out"))
    if rng.random() < p.family_visit_p * (2 if weekend else 1):
        anchors.append((h.at(day, rng.uniform(13.0, 18.0)), "family"))
    if rng.random() < p.bath_p:
        anchors.append((bedtime - _minutes(rng, 60, 150), "bath"))
    if rng.random() < p.mail_p:
        anchors.append((h.at(day, rng.uniform(9.0, 11.5)), "mail"))
    anchors.sort()
    # Morning: out of bed, dressed, washed, breakfast.
    h.stay(BEDROOM, "dress", _minutes(rng, 3, 10))
    if morning:
        h.moment(h.stays[-1].start + rng.uniform(30, 120), "morning_rise", BEDROOM)
    wash = _go(h, BATHROOM, "wash", _minutes(rng, 8, 20))
    h.moment(wash.start + (wash.end - wash.start) / 3, "bathroom", BATHROOM)
    cook = _go(h, KITCHEN, "cook", _minutes(rng, 5, 12))
    h.moment(cook.start + 120, "daytime_kitchen", KITCHEN)
    _go(h, KITCHEN, "eat", _minutes(rng, 15, 30))
    last_toilet = h.t
    napped = False
    for at, what in anchors:
        # Fill the time up to the anchor with ordinary things.
        while h.t < at - 600:
            gap = at - h.t
            if h.t - last_toilet > rng.uniform(2.0, 3.5) * 3600:
                _toilet(h)
                last_toilet = h.t
                continue
            hour = dt.datetime.fromtimestamp(h.t, h.zone).hour
            if not napped and 13 <= hour < 16 and rng.random() < p.nap_p:
                napped = True
                if rng.random() < p.nap_in_bed:
                    _go(h, BEDROOM, "dress", rng.uniform(20, 60))
                    h.bed.append((h.t + 3, True))
                    h.stay(BEDROOM, "sleep", _minutes(rng, *p.nap_min))
                    h.bed.append((h.t - 3, False))
                    s = h.stay(BEDROOM, "dress", rng.uniform(30, 90))
                    h.moment(s.start + 20, "daytime_bedroom", BEDROOM)
                else:
                    _go(h, LIVING, "doze", min(gap, _minutes(rng, *p.nap_min)))
                continue
            r = rng.random()
            if r < 0.55:
                s = _go(h, LIVING, rng.choice(("tv", "read")),
                        min(gap, _minutes(rng, *p.leisure_min)))
                h.moment(s.start + min(600, (s.end - s.start) / 2), "daytime_living_room",
                         LIVING)
            elif r < 0.8:
                s = _go(h, KITCHEN, "chores", min(gap, _minutes(rng, 5, 25)))
                h.moment(s.start + 60, "daytime_kitchen", KITCHEN)
            elif r < 0.9:
                s = _go(h, BEDROOM, "chores", min(gap, _minutes(rng, 5, 15)))
                h.moment(s.start + 60, "daytime_bedroom", BEDROOM)
            else:
                s = _go(h, HALL, "chores", min(gap, _minutes(rng, 2, 8)))
                h.moment(s.start + 30, "daytime_hall", HALL)
        if h.t >= bedtime - 900:
            break
        if what == "care":
            _visit(h, rng.uniform(15, 30), (KITCHEN, BATHROOM, BEDROOM), carer=True)
        elif what == "lunch" or what == "dinner":
            s = _go(h, KITCHEN, "cook", _minutes(rng, 10, 35))
            h.moment(s.start + 300, "daytime_kitchen", KITCHEN)
            _go(h, KITCHEN, "eat", _minutes(rng, 15, 30))
            _go(h, KITCHEN, "chores", _minutes(rng, 3, 10))
        elif what == "outing" or what == "evening_out":
            length = (_log_minutes(rng, *p.outing_min) if what == "outing"
                      else _minutes(rng, 180, 270))
            _leave(h, min(length, max(600.0, bedtime - 1800 - h.t)))
            _come_home(h)
        elif what == "family":
            _visit(h, rng.uniform(60, 180), (LIVING, KITCHEN), carer=False)
        elif what == "bath":
            s = _go(h, BATHROOM, "bath", _minutes(rng, *p.bath_min))
            h.moment(s.start + (s.end - s.start) * rng.uniform(0.3, 0.7), "bathroom", BATHROOM)
            _go(h, BATHROOM, "dress", _minutes(rng, 3, 8))
        elif what == "mail":
            _go(h, HALL, "hall", rng.uniform(20, 40))
            h.door.append((h.t, True))
            h.stay(None, "mail", rng.uniform(40, 120))
            h.door.append((h.t, False))
            s = h.stay(HALL, "hall", rng.uniform(30, 60))
            h.moment(s.start + rng.uniform(5, 15), "after_door_close", HALL)
        last_toilet = min(last_toilet, h.t) if what != "bath" else h.t
    # Evening: leisure until bedtime, then the bathroom and to bed.
    while h.t < bedtime - 1200:
        if h.t - last_toilet > rng.uniform(2.0, 3.5) * 3600:
            _toilet(h)
            last_toilet = h.t
            continue
        s = _go(h, LIVING, "tv", min(bedtime - 1200 - h.t + 60, _minutes(rng, 30, 120)))
        h.moment(s.start + min(900, (s.end - s.start) / 2), "daytime_living_room", LIVING)
    if rng.random() < p.sofa_sleep_p:  # dozes off in front of the television
        h.sofa_nights += 1
        _go(h, LIVING, "doze", _minutes(rng, 60, 180))
    _toilet(h)
    _go(h, BATHROOM, "wash", _minutes(rng, 3, 8))
    _go(h, BEDROOM, "dress", _minutes(rng, 3, 8))


def generate(profile: str, seed: int = 0, days: int = 30) -> Recording:
    """A recording of ``days`` days of the profile's resident, seeded."""
    p = PROFILES[profile]
    rng = random.Random(f"trygg-sim-resident:{profile}:{seed}")
    zone = zoneinfo.ZoneInfo(ZONE)
    h = _Home(rng, zone)
    first = FIRST_DAY + dt.timedelta(days=seed % 7)
    start = h.at(first, 0.0)
    end = h.at(first + dt.timedelta(days=days), 0.0)
    h.t = start
    guests: list[tuple[float, float]] = []
    day_i = 0
    while day_i < days:
        if rng.random() < p.guest_p:
            g0 = h.at(first + dt.timedelta(days=day_i), rng.uniform(11, 16))
            guests.append((g0, g0 + rng.uniform(1, 3) * 86400))
        day_i += 1
    day_i = 0
    away_until: float | None = None
    while day_i < days:
        day = first + dt.timedelta(days=day_i)
        rise = h.at(day, p.rise[0] + rng.gauss(0, p.rise[1] / 60))
        if rng.random() < p.lie_in_p:
            h.lie_ins += 1
            rise += rng.uniform(1.5, 3.0) * 3600
        bedtime = h.at(day, p.bedtime[0] + rng.gauss(0, p.bedtime[1] / 60))
        morning = away_until is None
        if away_until is not None:
            h.stay(None, "away", away_until - h.t)
            _come_home(h)
            away_until = None
        else:
            if not h.stays:
                h.bed.append((start, True))
            else:
                h.bed.append((h.t + 3, True))
            _night(h, p, max(rise, h.t + 3600))
            h.bed.append((h.t - 3, False))
        _day(h, p, day, bedtime, morning)
        if day_i + 1 < days and rng.random() < p.overnight_away_p:
            _leave(h, 1.0)
            away_until = h.at(day + dt.timedelta(days=1), rng.uniform(13.0, 17.0))
            h.stays.pop()  # the away stay is made when the next day begins
            h.t = h.stays[-1].end
        day_i += 1
    if away_until is not None:
        h.stay(None, "away", max(1.0, end - h.t))
    elif h.t < end:
        h.bed.append((h.t + 3, True))
        _night(h, p, end)
    obs = _observations(h, start, end, guests)
    devices = [DeviceSpec(device_id, role, room, "resident-1", "observations",
                          firmware={"door_contact": True} if room == HALL and role == "motion"
                          else {})
               for device_id, role, room in DEVICES]
    moments = [(round(t, 1), c, r) for t, c, r in sorted(h.moments)
               if start < t < end - 3600 and not _busy(t, h.company + guests)
               and _home_alone_at(h, t)]
    return Recording(
        start, end, hub_toml(profile), devices, obs,
        source=f"synthetic resident, profile {profile} ({p.about}), seed {seed}, {days} days "
               "(tools/sim/resident.py)",
        derived="simulated: PIR triggers, bed occupancy and door edges from a seeded model of "
                "daily life, not measured in a home",
        about={"generator": "tools/sim/resident.py", "profile": profile, "seed": seed,
               "days": days, "summary": _summary(h, guests),
               "fall_moments": [list(m) for m in moments],
               "resident_states": _states(h, start, end)})


# What the resident is doing, as the benchmark's model of answering a local check needs it.
ASLEEP_ACTIVITIES = frozenset(("sleep", "doze"))


def _states(h: _Home, start: float, end: float) -> list[list[Any]]:
    """The generator's ground truth as ``[from, to, state]`` spans, state ``asleep`` (in bed or
    dozing in the chair), ``out`` (not in the flat) or ``awake`` (at home, up)."""
    out: list[list[Any]] = []
    for stay in h.stays:
        state = ("out" if stay.room is None else "asleep" if stay.activity in ASLEEP_ACTIVITIES
                 else "awake")
        a, b = max(start, stay.start), min(end, stay.end)
        if b <= a:
            continue
        if out and out[-1][2] == state and abs(out[-1][1] - a) < 1.0:
            out[-1][1] = round(b, 1)
        else:
            out.append([round(a, 1), round(b, 1), state])
    return out


def _summary(h: _Home, guests: list[tuple[float, float]]) -> dict[str, float]:
    """The generator's ground truth in figures (what the profiles are meant to differ in)."""
    def minutes(activity: str) -> list[float]:
        return [(s.end - s.start) / 60 for s in h.stays if s.activity == activity]

    baths = minutes("bath")
    return {"baths": len(baths), "bath_minutes_max": round(max(baths, default=0.0), 1),
            "night_toilet_visits": h.night_toilet_visits,
            "sleepless_nights": h.sleepless_nights, "sofa_nights": h.sofa_nights,
            "lie_ins": h.lie_ins,
            "naps_in_bed": sum(1 for s in h.stays if s.activity == "sleep"
                               and dt.datetime.fromtimestamp(s.start, h.zone).hour in
                               range(12, 17)),
            "dozes": len(minutes("doze")), "tv_hours": round(sum(minutes("tv")) / 60, 1),
            "outings": len(minutes("out")),
            "hours_out": round(sum(minutes("out") + minutes("away")) / 60, 1),
            "visits": len(h.company) - len(guests), "guest_stays": len(guests)}


DEVICES = (("5e0000000001", "bed", BEDROOM), ("5a0000000001", "motion", BEDROOM),
           ("5a0000000002", "motion", BATHROOM), ("5a0000000003", "motion", KITCHEN),
           ("5a0000000004", "motion", LIVING), ("5a0000000005", "motion", HALL))
_PIR_OF = {room: device_id for device_id, role, room in DEVICES if role == "motion"}
_BED = DEVICES[0][0]


def hub_toml(name: str) -> str:
    return (f'[hub]\nid = "sim-{name.replace("_", "-")}"\n\n[[residents]]\nid = "resident-1"\n'
            f'arc_account = "1001"\ntimezone = "{ZONE}"\n')


def _busy(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a - 60 <= t <= b + 60 for a, b in spans)


def _home_alone_at(h: _Home, t: float) -> bool:
    """The resident is in the flat at ``t`` (not out)."""
    import bisect

    starts = [s.start for s in h.stays]
    i = bisect.bisect_right(starts, t) - 1
    return i >= 0 and h.stays[i].room is not None


def _triggers(rng: random.Random, start: float, end: float, activity: str) -> list[float]:
    out: list[float] = []
    if activity == "sleep":
        t = start + rng.expovariate(1 / TURN_MEAN_S)
        while t < end:
            if rng.random() < TURN_SEEN:
                out.append(t)
            t += rng.expovariate(1 / TURN_MEAN_S)
        return out
    mean, long_share, long_mean = PIR_GAP_S[activity]
    t = start + rng.uniform(0.0, min(2.0, end - start))
    while t < end:
        out.append(t)
        gap = (rng.expovariate(1 / long_mean) if long_share and rng.random() < long_share
               else rng.expovariate(1 / mean))
        t += max(PIR_BLOCK_S, gap)
    return out


def _observations(h: _Home, start: float, end: float,
                  guests: list[tuple[float, float]]) -> list[Observation]:
    rng = h.rng
    for g0, g1 in guests:
        _guest_stay(h, g0, min(g1, end - 10))
    raw: list[tuple[float, str, str, bool | None]] = []
    for s in h.stays:
        if s.room is None:
            continue
        for t in _triggers(rng, s.start, s.end, s.activity):
            raw.append((t, _PIR_OF[s.room], "pir", None))
    for t, room in h.extra:
        raw.append((t, _PIR_OF[room], "pir", None))
    for t, occupied in h.bed:
        raw.append((t, _BED, "bed", occupied))
    for t, is_open in h.door:
        raw.append((t, _PIR_OF[HALL], "door", is_open))
    raw = [r for r in raw if start <= r[0] <= end]
    raw.sort(key=lambda r: (r[0], r[1]))
    out: list[Observation] = []
    last_pir: dict[str, float] = {}
    for t, device, sensor, value in raw:
        if sensor == "pir":
            if t - last_pir.get(device, -1e9) < PIR_BLOCK_S:
                continue  # the sensor's block time after a trigger
            last_pir[device] = t
        out.append(Observation(round(t, 2), device, sensor, value))
    return out
