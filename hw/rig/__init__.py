"""The hardware-in-the-loop rig: a second ESP32 that plays the sensors of a board under test.

board.py is its wiring (board file), firmware.py the commands it answers over its REPL. Never
part of a device's image (hw/esp32/manifest.py leaves this folder out).
"""
