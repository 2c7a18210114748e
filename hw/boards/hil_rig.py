"""Board file of the hardware-in-the-loop rig: a second ESP32-DevKitC that plays the sensors.

The device under test (DUT) runs the real firmware undisturbed; the rig's
outputs are wired to the DUT's inputs and driven over the rig's own USB REPL
(hw/rig.py), so a PIR pulse or a smoke relay closing is a real edge on a real
pin, seen by the DUT's interrupt hardware. Wiring (rig GPIO -> DUT signal, DUT
pins from esp32_devkitc.PINS; connect the two boards' GND):

    rig 27 -> pir (DUT 27)          rig 14 -> door (DUT 26)
    rig 25 (DAC1) -> bed (DUT 34, ADC; pressure mat replaced by the DAC)
    rig 13 -> smoke_alarm (DUT 25)  rig 4 -> smoke_test (DUT 33)
    rig 26 (DAC2) -> smoke_line (DUT 32, ADC; supervision level)
    rig 16 -> tray (DUT 23)         rig 17 -> slot (DUT 19)   rig 18 -> index (DUT 4)

Digital outputs are 3.3 V push-pull; put 1 kOhm in series with each so a wiring
mistake cannot short two outputs. The DACs give 0..3.3 V in 256 steps, which
the DUT's 11 dB-attenuated ADC reads across its range.
"""

from micropython import const

# signal -> rig GPIO
DIGITAL = {
    "pir": const(27),
    "door": const(14),
    "smoke_alarm": const(13),
    "smoke_test": const(4),
    "tray": const(16),
    "slot": const(17),
    "index": const(18),
}
ANALOG = {  # signal -> rig DAC GPIO
    "bed": const(25),
    "smoke_line": const(26),
}
