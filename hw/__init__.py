"""Trygg hardware layer: board definitions and the HAL (ESP32 and simulated), MicroPython-safe."""
