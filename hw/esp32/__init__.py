"""The HAL on an ESP32 (``machine``, ``esp32``, ``network``)."""
