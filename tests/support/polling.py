"""Waiting in tests for what a running home does: poll a condition, bounded in time."""

import time
from collections.abc import Callable
from typing import Any

WAIT_S = 60.0  # a simulated board boots, joins and is heard by the hub in a few seconds
POLL_S = 0.2


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """``check()``'s first true value; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")
