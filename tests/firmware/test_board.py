"""The firmware on the MicroPython unix port with the simulated HAL, against a real mosquitto:
every frame the board sends is authenticated with the hub-side protocol code (trygg.protocol).

The only stand-in is the radio: the simulated HAL reports Wi-Fi as up (or down on command);
everything from the MQTT socket upwards is the code that runs on the ESP32.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from support.simboards import MakeBoard
from trygg.tools.sim.board import HubSide, Received, SimBoard
from trygg.tools.sim.mosquitto import Mosquitto

pytestmark = pytest.mark.micropython


def of(board: SimBoard, kind: str, event: str | None = None) -> Callable[[Received], bool]:
    assert board.config is not None
    device_id = board.config["device_id"]
    return lambda r: (r.device_id == device_id and r.msg["type"] == kind
                      and (event is None or r.msg.get("event") == event))


def test_hello_on_boot_names_firmware_role_board_and_power_on_reset(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion")
    hello = hub.wait_for(of(board, "hello"))
    assert hello.msg["role"] == "motion"
    assert hello.msg["board"] == "esp32-devkitc"
    assert hello.msg["reset"] == "power_on"
    assert hello.msg["power"] == "mains"  # the board file's POWER: no battery to run down
    assert hello.msg["firmware"]
    assert hello.seq == 0


def test_pir_pulse_sends_signed_motion_event_and_holdoff_counts_the_rest(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion", motion_holdoff_s=3600, heartbeat_s=1)
    hub.wait_for(of(board, "hello"))
    board.control("pulse pir 5")
    first = hub.wait_for(of(board, "event", "motion"))
    assert first.msg["value"] == 1
    board.control("pulse pir 5")
    board.control("pulse pir 5")
    # Inside the hold-off: counted, not sent. Heartbeats carry the count since the last one.

    def triggers() -> int:
        return sum(r.msg["triggers"] for r in hub.received if r.msg["type"] == "heartbeat")

    hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and triggers() >= 3)
    assert triggers() == 3
    assert [r for r in hub.received if r.msg.get("event") == "motion"] == [first]


def test_packages_run_from_romfs_and_nothing_of_them_is_on_the_filesystem(
        make_board: MakeBoard, hub: HubSide) -> None:
    # The production image has the packages in flash; the writable filesystem holds /main.py,
    # the provisioning file and the data the firmware writes, never a module it imports.
    board = make_board("motion")
    board.control("pulse pir 5")
    hub.wait_for(of(board, "event", "motion"))
    assert sorted(p.name for p in board.fs.iterdir()) == ["data", "main.py", "trygg.json"]


def test_board_in_files_mode_boots_and_sends_a_signed_event(
        make_board: MakeBoard, hub: HubSide) -> None:
    # Files mode: the packages as .mpy files on the filesystem, as `trygg provision` copies
    # them onto a stock MicroPython ESP32.
    board = make_board("motion", romfs=False)
    assert (board.fs / "protocol" / "cose.mpy").is_file()
    board.control("pulse pir 5")
    assert hub.wait_for(of(board, "event", "motion")).msg["value"] == 1


def test_door_contact_reports_open_then_close(make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion", door_contact=True)
    hub.wait_for(of(board, "hello"))
    board.control("pin door 0")  # magnet on the reed switch: door closed
    closed = hub.wait_for(of(board, "event", "door_close"))
    board.control("pin door 1")
    opened = hub.wait_for(of(board, "event", "door_open"))
    assert opened.seq > closed.seq


def test_broker_outage_then_everything_queued_arrives_in_order(
        make_board: MakeBoard, hub: HubSide, mosquitto: Mosquitto) -> None:
    board = make_board("motion")
    hub.wait_for(of(board, "hello"))
    mosquitto.stop()
    mark = len(board.lines)
    for _ in range(5):
        board.control("pulse pir 5")
    board.wait_for_line(r"up: seq 5 event motion", after=mark)
    mosquitto.start()
    hub.wait_for(lambda r: r.seq == 5 and r.msg.get("event") == "motion", timeout=20)
    motions = [r.seq for r in hub.received if r.msg.get("event") == "motion"]
    assert motions == [1, 2, 3, 4, 5]


def test_full_outbox_drops_heartbeats_counts_them_and_still_takes_the_alarm(
        make_board: MakeBoard, hub: HubSide, mosquitto: Mosquitto) -> None:
    capacity = 4
    board = make_board("motion", door_contact=True, outbox_max=capacity, heartbeat_s=1)
    # Start from an empty outbox: a heartbeat that found nothing else waiting, then its ack.
    beat = hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.msg["outbox"] == 0)
    hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.msg["outbox"] == 0
                 and r.seq > beat.seq)
    mosquitto.stop()
    mark = len(board.lines)
    sealed = []  # heartbeats sealed while the hub is unreachable: more than fit
    while len(sealed) < capacity + 2:
        i, line = board.wait_for_line(r"up: seq \d+ heartbeat", after=mark)
        sealed.append(int(line.split()[2]))
        mark = i + 1
    board.control("pin door 0")  # an alarm-class event into the full outbox
    board.wait_for_line(r"up: seq \d+ event door_close", after=mark)
    start = len(hub.received)
    mosquitto.start()
    closed = hub.wait_for(of(board, "event", "door_close"), after=start, timeout=20)
    later = hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.seq > closed.seq,
                         after=start)
    # Two heartbeats found the outbox full and one made room for the alarm: at least three
    # dropped, and the heartbeat says so; of those sealed, at most capacity - 1 arrived.
    assert later.msg["dropped"] >= 3
    arrived = {r.seq for r in hub.received[start:] if r.msg["type"] == "heartbeat"}
    assert len(arrived & set(sealed)) <= capacity - 1


def test_wifi_loss_then_reconnect_delivers_everything_queued_in_order(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion", heartbeat_s=1)
    hub.wait_for(of(board, "heartbeat"))
    mark = len(board.lines)
    board.control("wifi 0")  # the access point goes away; the radio is the one stand-in here
    i, _ = board.wait_for_line(r"link: Wi-Fi lost", after=mark)
    board.wait_for_line(r"link: down \(MqttError: Wi-Fi .* not reachable", after=i)
    queued = []
    for _ in range(3):
        board.control("pulse pir 5")
        j, line = board.wait_for_line(r"up: seq \d+ event motion", after=i)
        queued.append(int(line.split()[2]))
        i = j + 1
    _, line = board.wait_for_line(r"up: seq \d+ heartbeat", after=i)  # sealed meanwhile
    offline_beat = int(line.split()[2])
    start = len(hub.received)
    board.control("wifi 1")
    hub.wait_for(lambda r: r.seq == queued[-1], after=start, timeout=20)
    motions = [r.seq for r in hub.received[start:]
               if r.msg.get("event") == "motion" and not r.duplicate]
    assert motions == queued  # all of them, in order
    beat = hub.wait_for(lambda r: r.seq == offline_beat, after=start)
    assert beat.msg["rssi"] == -128  # measured while not associated


def test_power_loss_resends_unacked_events_without_reusing_sequence_numbers(
        make_board: MakeBoard, hub: HubSide) -> None:
    hub.auto_ack = False
    board = make_board("motion")
    hub.wait_for(of(board, "hello"))
    board.control("pulse pir 5")
    board.control("pulse pir 5")
    hub.wait_for(lambda r: r.seq == 2)
    board.kill()  # power cut: nothing acked, nothing flushed
    mark = len(hub.received)
    hub.auto_ack = True
    board.start()
    hello = hub.wait_for(lambda r: r.msg["type"] == "hello" and not r.duplicate, after=mark)
    assert hello.msg["reset"] == "power_on"
    assert hello.seq > 2  # the counter resumed above everything used before the cut
    resent = {r.seq for r in hub.received[mark:] if r.duplicate}
    hub.wait_for(lambda r: r.seq == 2 and r.duplicate, after=mark)
    resent = {r.seq for r in hub.received[mark:] if r.duplicate}
    assert {0, 1, 2} <= resent
    board.control("pulse pir 5")
    new = hub.wait_for(lambda r: r.msg.get("event") == "motion" and not r.duplicate, after=mark)
    assert new.seq > hello.seq


def test_forged_and_malformed_commands_are_rejected_and_counted_and_a_replay_is_not_run(
        make_board: MakeBoard, hub: HubSide) -> None:
    """A frame that does not verify or does not parse is rejected and counted (the heartbeat's
    ``rejected``); a replay of a frame already accepted is dropped without running it again,
    and not counted: the same sealed frame also comes back legitimately (MQTT QoS 1, the
    bridge's mailbox handing a sleeping device's frames out again), and counting those would
    make the count say nothing about forgery."""
    board = make_board("motion", heartbeat_s=1)
    device_id = board.config["device_id"]  # type: ignore[index]
    hub.wait_for(of(board, "hello"))
    set_time = {"type": "command", "command_id": 7, "command": "set_time",
                "time": 1_795_000_000, "utc_offset_min": 60}
    genuine = hub.send(device_id, set_time)
    result = hub.wait_for(of(board, "command_result"))
    assert result.msg == {**result.msg, "command_id": 7, "status": "ok"}
    mark = len(board.lines)
    hub.send_raw(device_id, genuine)  # replayed
    forged = bytearray(hub.seal(device_id, {**set_time, "command_id": 8}))
    forged[-1] ^= 1  # tag no longer verifies
    hub.send_raw(device_id, bytes(forged))
    hub.send_raw(device_id, b"\xd1\x84garbage")  # malformed
    hub.send_raw(device_id, bytes(300))  # oversized
    board.wait_for_line(r"down: duplicate", after=mark)
    for reason in ("bad_mac", "malformed|truncated", "oversized"):
        board.wait_for_line(rf"down: rejected \(({reason})", after=mark)
    beat = hub.wait_for(lambda r: r.msg["type"] == "heartbeat" and r.msg["rejected"] >= 3)
    assert beat.msg["rejected"] == 3
    assert "time" in beat.msg  # set once by the genuine command
    assert not [r for r in hub.received if r.msg.get("command_id") == 8]
    assert len([r for r in hub.received if r.msg.get("command_id") == 7]) == 1
    assert not [line for line in board.lines[mark:] if "down: command" in line]


def test_missing_config_leaves_board_in_needs_provisioning_state(
        make_board: MakeBoard) -> None:
    board = make_board("motion", start=False)
    (board.fs / "trygg.json").unlink()
    board.start()
    first, line = board.wait_for_line(r"NEEDS PROVISIONING: ")
    assert "not found" in line
    board.wait_for_line(r"NEEDS PROVISIONING: ", after=first + 1)
    assert board.running  # repeated, not a crash loop
    assert board.starts == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"broker_port": 70000}, "broker_port"),
        ({"device_id": "A1B2C3D4E5F6"}, "device_id"),
        ({"role": "toaster"}, "role"),
        ({"heartbeat_s": 0}, "heartbeat_s"),
        ({"motion_holdoff_s": "soon"}, "motion_holdoff_s"),
        ({"board": "esp8266"}, "board"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_config_names_the_key_in_needs_provisioning_state(
        make_board: MakeBoard, change: dict[str, Any], named: str) -> None:
    board = make_board("motion", start=False)
    assert board.config is not None
    board.write_config({**board.config, **change})
    board.start()
    _, line = board.wait_for_line(r"NEEDS PROVISIONING: ")
    assert f"trygg.json: {named}:" in line
    assert board.running


def test_invalid_json_config_needs_provisioning(make_board: MakeBoard) -> None:
    board = make_board("motion", start=False)
    board.write_config("{not json")
    board.start()
    _, line = board.wait_for_line(r"NEEDS PROVISIONING: ")
    assert "not valid JSON" in line


def test_stuck_event_loop_ends_in_watchdog_reset_and_hello_says_so(
        make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion", watchdog_ms=3000)
    hub.wait_for(of(board, "hello"))
    mark = len(hub.received)
    with pytest.raises(ConnectionError, match="without a reply"):  # the board dies blocked
        board.control("hang 30", timeout=5)
    hello = hub.wait_for(lambda r: r.msg["type"] == "hello" and not r.duplicate, after=mark)
    assert hello.msg["reset"] == "watchdog"
    assert board.exits[0] == -signal.SIGUSR1
    assert board.starts == 2


def test_reboot_command_restarts_with_soft_reset(make_board: MakeBoard, hub: HubSide) -> None:
    board = make_board("motion")
    hub.wait_for(of(board, "hello"))
    hub.send(board.config["device_id"], {"type": "command", "command_id": 3,  # type: ignore[index]
                                         "command": "reboot"})
    result = hub.wait_for(of(board, "command_result"))
    assert result.msg["status"] == "ok"
    hello = hub.wait_for(lambda r: r.msg["type"] == "hello" and r.seq > result.seq)
    assert hello.msg["reset"] == "soft"
