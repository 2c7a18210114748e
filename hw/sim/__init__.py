"""Simulated hardware for the MicroPython unix port (tests, demo, ``trygg sim board``)."""
