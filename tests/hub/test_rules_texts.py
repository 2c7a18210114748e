"""Alarm texts fit the centre's text field whole: clauses are left out, never cut, and a
number is never split."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trygg.hub.arc.protocols.dc09 import ALARM_TEXT_MAX
from trygg.hub.rules import texts
from trygg.hub.rules.model import PRIORITY


def test_descriptions_fit_the_forwarders_text_after_the_longest_care_kind() -> None:
    care = ("possible_fall", "inactivity", "not_up")
    assert texts.CENTRE_TEXT_MAX == ALARM_TEXT_MAX
    assert ALARM_TEXT_MAX - max(len(f"{k}: ") for k in care) == texts.DESCRIPTION_MAX
    assert all(k in PRIORITY for k in care)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 min"), (29, "0 min"), (31, "1 min"), (59 * 60, "59 min"), (3600, "1 h"),
    (3600 + 5 * 60, "1 h 5 min"), (24 * 3600 + 60, "24 h 1 min")])
def test_durations_read_as_an_operator_says_them(seconds: float, text: str) -> None:
    assert texts.duration(seconds) == text


def test_whole_clauses_are_left_out_when_they_do_not_fit() -> None:
    first = "No movement for 1 h 35 min in the room at the end of the corridor"
    assert texts.fit(first, "usually 40 min at most", limit=80) == first
    assert texts.fit("a", "b" * 10, "c", limit=6) == "a; c"


@given(st.lists(st.one_of(st.integers(0, 10**6).map(str),
                          st.text("abcdefghij", min_size=1, max_size=12)),
                min_size=2, max_size=30))
def test_a_too_long_first_clause_is_cut_at_a_space_never_inside_a_number(words: list[str]) -> None:
    text = " ".join(words)
    out = texts.fit(text)
    assert len(out) <= texts.DESCRIPTION_MAX
    assert text.startswith(out)
    if out != text:
        assert text[len(out)] == " "  # the next word, number or not, is left out whole
        assert re.fullmatch(r"\S+( \S+)*", out)
