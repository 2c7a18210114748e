"""Tests of hw/: the HAL, board files and the HIL rig's firmware, on the MicroPython unix port."""
