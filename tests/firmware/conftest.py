"""Tests of firmware/ on simulated boards: the real MicroPython unix port at the ESP32's heap,
the sim HAL, a real mosquitto and a minimal hub side (support/simboards.py) that acks frames.
The same tests run on real ESP32s with --hil-port (see the root conftest)."""

from support.simboards import hub, make_board

__all__ = ["hub", "make_board"]  # fixtures: a hub side on a real mosquitto, simulated boards
