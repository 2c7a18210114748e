"""Trygg ESP32 firmware (MicroPython), copied onto the device as the top-level `firmware`."""
