"""Board file of the hardware-in-the-loop rig: a second ESP32-DevKitC that plays the sensors.

The device under test (DUT) runs the real firmware undisturbed; the rig's
outputs are wired to the DUT's inputs and driven over the rig's own USB REPL
(hw/rig/firmware.py), so a PIR pulse or a smoke relay closing is a real edge on a real
pin, seen by the DUT's interrupt hardware. Connect the two boards' GND, put
1 kOhm in series with each digital jumper (3.3 V push-pull outputs: a wiring
mistake then cannot short two outputs), and wire per role (rig GPIO -> DUT
signal, DUT GPIOs from esp32_devkitc.PINS):

motion      rig 27 -> pir (DUT 27)          rig 14 -> door (DUT 26)
bed         rig 25 (DAC1) -> bed (DUT 34, ADC; the pressure mat replaced by the DAC)
smoke       rig 13 -> smoke_alarm (DUT 25)  rig 4 -> smoke_test (DUT 33)
            rig 26 (DAC2) -> smoke_line (DUT 32, ADC; the supervision level)
dispenser   rig 16 -> tray (DUT 23)         rig 17 -> slot (DUT 19)
            rig 18 -> index (DUT 4)         DUT servo (18) -> rig 19 (input)
call_point  rig 23 -> call (DUT 13)

The DACs give 0..3.3 V in 256 steps, which the DUT's 11 dB-attenuated ADC reads
across its range. The dispenser needs no carousel: the rig watches the DUT's
servo signal and answers on the index and slot lines as the mechanism would
(hw/rig/firmware.py, the ``carousel`` and ``jam`` commands, as the simulated board's).
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
    "call": const(23),
}
ANALOG = {  # signal -> rig DAC GPIO
    "bed": const(25),
    "smoke_line": const(26),
}
SENSE = {  # DUT output -> rig input GPIO, for the rig's models of the DUT's mechanics
    "servo": const(19),
}
