"""The rules see each device's state events in the device's own order.

A device resends a frame until the hub acks it, so after a hub restart a device's older event
can be stored after its newer one. Those tests store the newer event first and check that the
older one is treated as history: it never undoes the state the newer one set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from support.rules_home import BED, HALL, PILLS, SMOKE, RulesHome
from trygg.hub.alarms import AlarmDesk
from trygg.hub.config import parse
from trygg.hub.store import NewFrame, Store


def test_smoke_alarm_stored_after_its_clear_is_history_and_the_next_fire_is_alarmed() -> None:
    home = RulesHome()
    t = home.at("18:00")
    home.store(SMOKE, "smoke_clear", t, seq=1)
    home.store(SMOKE, "smoke_alarm", t + 5, seq=0)  # resent after a restart: older than clear
    # The centre learns that the smoke alarm went off, and that it is over.
    assert [a.kind for a in home.raised()] == ["fire"]
    assert [r.reason for r in home.resolved("fire")] == ["reported late, already clear"]
    assert home.open_kinds() == []
    home.store(SMOKE, "smoke_alarm", t + 600, seq=2)  # a new fire
    assert len(home.raised("fire")) == 2
    assert home.open_kinds() == ["fire"]
    home.store(SMOKE, "smoke_clear", t + 900, seq=3)
    assert home.open_kinds() == []


def test_a_late_older_smoke_alarm_does_not_add_to_an_open_fire() -> None:
    home = RulesHome()
    t = home.at("18:00")
    home.store(SMOKE, "smoke_alarm", t, seq=3)
    home.store(SMOKE, "smoke_alarm", t + 5, seq=1)
    home.store(SMOKE, "smoke_clear", t + 6, seq=2)  # older than the open alarm: history
    assert len(home.raised("fire")) == 1
    assert home.open_kinds() == ["fire"]


def test_bed_out_stored_after_the_later_bed_in_starts_no_night_episode() -> None:
    home = RulesHome()
    home.store(BED, "bed_in", home.at("22:30"), seq=0)
    home.store(BED, "bed_in", home.at("03:10", 1), seq=2)  # back in bed after a toilet visit
    home.store(BED, "bed_out", home.at("03:11", 1), seq=1)  # the exit, resent late
    assert home.state.resident("r1").in_bed is True
    home.run_until(home.at("06:00", 1))
    assert home.raised() == []


def test_bed_in_stored_after_the_later_bed_out_does_not_put_her_back_in_bed() -> None:
    home = RulesHome()
    home.store(BED, "bed_in", home.at("22:30"), seq=0)
    home.store(BED, "bed_out", home.at("02:00", 1), seq=2)
    home.store(HALL, "motion", home.at("02:00", 1) + 20)
    home.store(BED, "bed_in", home.at("02:01", 1), seq=1)  # older: she was in bed before
    assert home.state.resident("r1").in_bed is False
    home.run_until(home.at("03:00", 1))
    assert [a.kind for a in home.raised()] == ["possible_fall"]  # up and not moving since


def test_door_close_stored_after_the_later_open_is_not_a_departure() -> None:
    home = RulesHome()
    t = home.at("10:00")
    home.store(HALL, "motion", t - 60)
    home.store(HALL, "door_open", t + 10, seq=5)
    home.store(HALL, "door_close", t + 12, seq=4)  # older: closed before it opened again
    rs = home.state.resident("r1")
    assert rs.leaving_at is None  # the door is open: nobody has left through it yet


@pytest.mark.parametrize("problem", ["dispenser_jam", "dispenser_empty", "stock_low"])
def test_dispenser_problem_stored_after_what_ended_it_stays_resolved(problem: str) -> None:
    home = RulesHome()
    t = home.at("08:00")
    home.store(PILLS, problem, t, seq=0)
    assert home.open_kinds() == ["dispenser_problem"]
    if problem == "dispenser_jam":
        home.store(PILLS, "dose_taken", t + 60, seq=2, value=1)
    else:
        home.heartbeat(PILLS, t + 60, seq=2, stock=20)
    assert home.open_kinds() == []
    home.store(PILLS, problem, t + 70, seq=1)  # the same problem again, resent late
    assert home.open_kinds() == []
    assert len(home.raised("dispenser_problem")) == 1


def test_dose_due_stored_after_the_dose_was_taken_is_not_missed() -> None:
    home = RulesHome()
    t = home.at("08:00")
    home.store(PILLS, "dose_taken", t + 60, seq=1, value=3)
    home.store(PILLS, "dose_due", t + 61, seq=0, value=3)
    home.run_until(t + 3 * 3600)
    assert home.raised("missed_dose") == []


def test_old_heartbeat_does_not_undo_a_new_battery() -> None:
    home = RulesHome()
    t = home.at("08:00")
    home.heartbeat(HALL, t, seq=10, battery_mv=3300)
    home.heartbeat(HALL, t + 60, seq=12, battery_mv=3900)  # battery changed
    home.heartbeat(HALL, t + 61, seq=11, battery_mv=3300)  # resent late
    assert [a.kind for a in home.raised()] == ["low_battery"]
    assert home.open_kinds() == []


# -- the same through the hub's store and alarm desk (what reaches the centre) --------------


class Centre:
    """Collects the reports the desk hands to the ARC forwarder."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, str]] = []

    async def submit(self, report: Any) -> None:
        self.reports.append((report.kind, report.event, report.alarm_id))


def _desk(db: Path, centre: Centre, clock: list[float]) -> tuple[AlarmDesk, Store]:
    config = parse({"hub": {"id": "h", "database": str(db)},
                    "residents": [{"id": "r1", "arc_account": "1234"}]})
    store = Store(db)

    async def run_db(fn: Callable[[Store], Any]) -> Any:
        return fn(store)

    run: Callable[..., Awaitable[Any]] = run_db
    desk = AlarmDesk(config, run, centre, clock=lambda: clock[0])
    desk.set_devices(store.devices())
    return desk, store


async def test_centre_gets_the_late_fire_and_its_restore_then_the_next_fire(
        tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    store = Store(db)
    store.add_device(SMOKE, b"k" * 16, "smoke", "kitchen", "r1", now=2000.0)
    store.close()
    centre = Centre()
    clock = [2000.0]
    desk, store = _desk(db, centre, clock)

    async def deliver(seq: int, name: str) -> None:
        clock[0] += 10
        frame = NewFrame(SMOKE, seq, clock[0], {"type": "event", "uptime": 5, "event": name})
        await desk.on_events(store.store_frames([frame], {SMOKE: (seq, 0)}, {SMOKE: "r1"}))

    await deliver(1, "smoke_clear")
    await deliver(0, "smoke_alarm")  # the device resends it after the hub was killed
    await deliver(2, "smoke_alarm")  # the next real fire
    assert [(k, e) for k, e, _ in centre.reports] == [
        ("fire", "raised"), ("fire", "resolved"), ("fire", "raised")]
    open_ids = [a["alarm_id"] for a in store.alarms(open_only=True)]
    assert open_ids == [centre.reports[2][2]]
    # A restart replays the store and decides the same: no new alarm goes to the centre. The
    # open fire, which the centre has not acknowledged, is handed to the forwarder again under
    # its own id (the outbox sends it as the same message, or knows it delivered).
    store.close()
    again = Centre()
    desk, store = _desk(db, again, clock)
    await desk.rebuild()
    assert set(again.reports) <= set(centre.reports)
    assert [(k, e, i) for k, e, i in again.reports if e == "raised"] in (
        [], [centre.reports[2]])
    assert [a.alarm_id for a in desk.state.open_alarms.values()] == open_ids
    store.close()


def test_a_restart_resent_late_does_not_end_a_newer_tamper() -> None:
    home = RulesHome()
    t = home.at("12:00")
    home.store(HALL, "tamper", t, seq=7)
    home.store(HALL, "hello", t + 5, seq=6, msg_type="hello")  # the boot before the tamper
    assert home.open_kinds() == ["tamper"]
    home.store(HALL, "hello", t + 600, seq=8, msg_type="hello")  # the technician's restart
    assert home.open_kinds() == []
