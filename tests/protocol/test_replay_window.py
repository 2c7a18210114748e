"""Replay protection (RFC 8613 §7.4, the RFC 4303 §3.4.3 window): every sequence number is
accepted once, anything left of the 64-entry window is refused, the state survives a restart,
and the two directions are separate sequence spaces that cannot be crossed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.protocol import KEYS, KID, MAC_KEY, rejection
from trygg.protocol import cose, frame
from trygg.protocol.errors import BAD_MAC, REPLAYED, SCHEMA, TOO_OLD, ProtocolError
from trygg.protocol.replay import WINDOW_SIZE, ReplayWindow

UP, DOWN = cose.UP, cose.DOWN
EVENT = {"type": "event", "uptime": 5, "event": "motion"}
COMMAND = {"type": "command", "command_id": 9, "command": "reboot"}


def verdict(window: ReplayWindow, seq: int) -> str | None:
    try:
        window.check(seq)
    except ProtocolError as exc:
        return exc.reason
    return None


def accepted(seqs: list[int]) -> ReplayWindow:
    window = ReplayWindow()
    for seq in seqs:
        window.accept(seq)
    return window


def test_window_is_64_entries() -> None:
    assert WINDOW_SIZE == 64


def test_fresh_window_accepts_sequence_number_zero_once() -> None:
    window = ReplayWindow()
    assert verdict(window, 0) is None
    window.accept(0)
    assert verdict(window, 0) == REPLAYED


def test_duplicate_is_refused_as_replayed() -> None:
    window = accepted([10, 11, 12])
    for seq in (10, 11, 12):
        assert verdict(window, seq) == REPLAYED
        with pytest.raises(ProtocolError) as err:
            window.accept(seq)
        assert err.value.reason == REPLAYED


def test_check_does_not_record_so_a_frame_that_failed_later_can_come_again() -> None:
    window = accepted([10])
    for _ in range(3):
        window.check(11)
    assert window.state() == accepted([10]).state()
    window.accept(11)
    assert verdict(window, 11) == REPLAYED


def test_out_of_order_within_the_window_is_accepted_exactly_once() -> None:
    window = accepted([100])
    for seq in (99, 38, 98, 50, 70, 100 - WINDOW_SIZE + 1):
        assert verdict(window, seq) is None, seq
        window.accept(seq)
        assert verdict(window, seq) == REPLAYED, seq
    assert verdict(window, 60) is None  # never seen, still in the window


@pytest.mark.parametrize("highest", [WINDOW_SIZE - 1, WINDOW_SIZE, 1000, cose.MAX_SEQ])
def test_older_than_the_window_is_refused_as_too_old(highest: int) -> None:
    window = accepted([highest])
    oldest_in_window = highest - WINDOW_SIZE + 1
    assert verdict(window, oldest_in_window) is None
    candidates = {oldest_in_window - 1, oldest_in_window - 2, 0}
    older = [s for s in candidates if 0 <= s < oldest_in_window]
    assert len(older) == (0 if highest < WINDOW_SIZE else 1 if highest == WINDOW_SIZE else 3)
    for seq in older:
        assert verdict(window, seq) == TOO_OLD, seq


@pytest.mark.parametrize("jump", [1, 2, 63, 64, 65, 1000, 1 << 32, cose.MAX_SEQ - 5])
def test_big_jump_forward_is_accepted_and_slides_the_window(jump: int) -> None:
    start = 5
    window = accepted([start - 1, start])
    window.accept(start + jump)
    assert verdict(window, start + jump) == REPLAYED
    for seq in (start - 1, start):
        # Still remembered if inside the new window, refused as too old otherwise.
        assert verdict(window, seq) == (REPLAYED if start + jump - seq < WINDOW_SIZE else TOO_OLD)
    # Numbers skipped by the jump that are still in the window are accepted once.
    skipped = start + jump - 1
    if jump > 1:
        assert verdict(window, skipped) is None
        window.accept(skipped)
        assert verdict(window, skipped) == REPLAYED


def test_state_restores_an_identical_window() -> None:
    window = accepted([3, 7, 8, 70, 65, 66, 100, 99, 40])
    restored = ReplayWindow(*window.state())
    for seq in range(0, 200):
        assert verdict(restored, seq) == verdict(window, seq), seq


def test_state_survives_a_restart_in_the_middle_of_a_stream() -> None:
    window = ReplayWindow()
    for seq in range(0, 500, 3):
        window.accept(seq)
        window = ReplayWindow(*window.state())  # the hub persists and reloads after each
    for seq in range(0, 500, 3):
        assert verdict(window, seq) in (REPLAYED, TOO_OLD)
    assert verdict(window, 497) is None  # within the window, never sent


class ModelWindow:
    """The specification as a set: accept iff above the highest, or within the last 64 and
    not seen before."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def verdict(self, seq: int) -> str | None:
        if not self.seen or seq > max(self.seen):
            return None
        if max(self.seen) - seq >= WINDOW_SIZE:
            return TOO_OLD
        return REPLAYED if seq in self.seen else None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["accept", "check", "restart"]),
                          st.integers(min_value=0, max_value=300)
                          | st.integers(min_value=0, max_value=cose.MAX_SEQ)),
                max_size=80))
def test_window_behaves_like_the_set_model(operations: list[tuple[str, int]]) -> None:
    window, model = ReplayWindow(), ModelWindow()
    for operation, seq in operations:
        if operation == "restart":
            window = ReplayWindow(*window.state())
            continue
        expected = model.verdict(seq)
        assert verdict(window, seq) == expected, (operation, seq)
        if operation == "accept" and expected is None:
            window.accept(seq)
            model.seen.add(seq)
    for seq in sorted(model.seen)[-5:]:
        assert window.seen(seq)


# --- with whole frames ---------------------------------------------------------------------------

def test_replayed_frame_is_refused_as_replayed_after_the_mac_check() -> None:
    window = ReplayWindow()
    data = frame.seal(EVENT, MAC_KEY, KID, 41)
    envelope, _msg = frame.open_message(data, UP, KEYS.get, lambda _kid: window)
    window.accept(envelope.seq)
    assert rejection(data, UP, window) == REPLAYED
    # A forgery carrying a replayed sequence number fails on the MAC first (RFC 8613 §7.4:
    # only authenticated numbers may touch the window).
    forged = data[:-1] + bytes([data[-1] ^ 1])
    assert rejection(forged, UP, window) == BAD_MAC


def test_replay_check_comes_before_the_payload_is_decoded() -> None:
    window = accepted([41])
    bad_payload = cose.seal(b"\xa0", MAC_KEY, KID, 41, UP)  # {}: not a message
    assert rejection(bad_payload, UP, window) == REPLAYED
    assert rejection(bad_payload, UP, ReplayWindow()) == SCHEMA


def test_frame_older_than_the_window_is_refused_as_too_old() -> None:
    window = accepted([1000])
    assert rejection(frame.seal(EVENT, MAC_KEY, KID, 1000 - WINDOW_SIZE), UP, window) == TOO_OLD
    assert rejection(frame.seal(EVENT, MAC_KEY, KID, 1000 - WINDOW_SIZE + 1), UP, window) is None


def test_window_lookup_is_per_device() -> None:
    other_kid = bytes.fromhex("0a0b0c0d0e0f")
    keys = {KID: MAC_KEY, other_kid: MAC_KEY}
    windows = {KID: accepted([5]), other_kid: ReplayWindow()}
    data = frame.seal(EVENT, MAC_KEY, other_kid, 5)
    envelope, _msg = frame.open_message(data, UP, keys.get, windows.get)
    assert envelope.kid == other_kid


def test_unknown_window_means_no_replay_check() -> None:
    # window_for_kid returning None (a decoding tool): the frame opens however often it comes.
    data = frame.seal(EVENT, MAC_KEY, KID, 5)
    for _ in range(2):
        frame.open_message(data, UP, KEYS.get, lambda _kid: None)


# --- the two directions are separate sequence spaces ---------------------------------------------

def test_the_same_sequence_number_is_accepted_once_in_each_direction() -> None:
    hub_window_for_device = ReplayWindow()  # device -> hub
    device_window_for_hub = ReplayWindow()  # hub -> device
    up = frame.seal(EVENT, MAC_KEY, KID, 7)
    down = frame.seal(COMMAND, MAC_KEY, KID, 7)
    for data, direction, window in ((up, UP, hub_window_for_device),
                                    (down, DOWN, device_window_for_hub)):
        envelope, _msg = frame.open_message(data, direction, KEYS.get, lambda _kid, w=window: w)
        window.accept(envelope.seq)
    assert rejection(up, UP, hub_window_for_device) == REPLAYED
    assert rejection(down, DOWN, device_window_for_hub) == REPLAYED


@pytest.mark.parametrize("seq", [0, 7, 1 << 20, cose.MAX_SEQ])
@pytest.mark.parametrize("alg", [cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256])
def test_frame_sealed_for_one_direction_never_opens_in_the_other(seq: int, alg: int) -> None:
    # The direction is in the external AAD (RFC 9052 §4.3): crossing it breaks the MAC, so a
    # captured event cannot be reflected to the device, nor a command back to the hub, even
    # where the other direction's window has not seen the number.
    for msg, sent in ((EVENT, UP), (COMMAND, DOWN)):
        data = frame.seal(msg, MAC_KEY, KID, seq, alg)
        other = DOWN if sent == UP else UP
        assert rejection(data, other, ReplayWindow()) == BAD_MAC
        raw = cose.seal(cose.parse(data)[4], MAC_KEY, KID, seq, sent, alg)
        with pytest.raises(ProtocolError) as err:
            cose.open_frame(raw, other, KEYS.get)
        assert err.value.reason == BAD_MAC
        assert cose.open_frame(raw, sent, KEYS.get).seq == seq
