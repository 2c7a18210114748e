"""Espressif ESP32-DevKitC (ESP32-WROOM-32, no PSRAM): wiring per role.

GPIOs avoid the strapping pins (0, 2, 5, 12, 15) for inputs and the
input-only pins 34..39 carry the ADC signals (ADC1 only: ADC2 is unusable
while Wi-Fi is on, ESP32 TRM §29.3). Every role also measures its supply on
GPIO35 through a 100k/100k divider (BATTERY_DIVIDER = 2), read with 11 dB
attenuation (0..3.1 V).

motion -- PIR and optional entrance door contact
    BOM: HC-SR501 or AM312 PIR (3.3 V output), reed switch (NO) + magnet.
    Wiring: PIR OUT -> GPIO27 (active high); reed switch GPIO26 to GND,
    internal pull-up (door closed = magnet on switch = 0, open = 1).
bed -- pressure mat
    BOM: FSR mat (e.g. Interlink FSR 408) + 10k resistor to GND as divider
    from 3.3 V; or a load-cell amplifier with analogue out.
    Wiring: divider midpoint -> GPIO34 (ADC1_CH6); more pressure = higher.
smoke -- interface to a certified smoke alarm (Trygg relays it, it does not
    replace it)
    BOM: optocoupler (PC817) on the alarm's relay/interconnect output, push
    button (test), 4k7 end-of-line resistor at the alarm.
    Wiring: opto collector to 3.3 V, emitter -> GPIO25 with a 10k pull-down
    (alarm = 1), test button GPIO33 to GND with pull-up (pressed = 0),
    supervised line (3.3 V - 4k7 - line - 4k7 EOL to GND) midpoint -> GPIO32
    (ADC1_CH4): ~1/2 scale normal, ~0 short circuit, ~full scale open line.
dispenser -- carousel, slot, index and tray sensors, buzzer, LED
    BOM: carousel of 28 compartments (a week at four doses a day; firmware
    setting carousel_slots) over a chute into a removable tray, turned by a
    continuous-rotation servo (FS90R, 5 V supply); slotted opto-interrupter
    module (e.g. TCST2103 + comparator) reading one notch per compartment on
    the carousel rim; reflective IR module (TCRT5000 + comparator) looking
    into the next compartment; microswitch under the tray; passive piezo
    buzzer driven by a 2N2222 + 1k base resistor; LED + 330R.
    Wiring: servo signal GPIO18 (PWM 50 Hz), index GPIO4 (1 = a compartment
    lined up over the chute), slot sensor GPIO19 (0 = a dose in the next
    compartment), tray switch GPIO23 to GND with pull-up (tray in = 0,
    removed = 1), buzzer GPIO21 (PWM), LED GPIO22.
call_point -- assistance call point: a pull cord or a wall button
    BOM: ceiling pull-cord switch or push button with a normally open
    contact (as sold for nurse-call and accessible-toilet alarms), 10k
    resistor, 100 nF capacitor.
    Wiring: contact GPIO13 to GND (pulled or pressed = 0), 10k pull-up to
    3.3 V and 100 nF to GND at the board: the cable to a ceiling switch is
    metres long, and the internal ~45k pull-up alone lets it pick up
    interference.

"""

# (In comments, not the docstring: compiling a long docstring from source needs heap a
# 110 KB test board lacks.)
# Battery devices (ESP-NOW, deep sleep; firmware/espnow.py). A DevKitC is for development
# and the simulated board only: its AMS1117 regulator and USB-UART bridge draw milliamps in
# deep sleep, which no battery outlasts. A battery device is an ESP32-WROOM-32E module on a
# board with a low-quiescent regulator (e.g. a 2 uA LDO such as TPS7A02, or none: 2xAA
# straight to 3V3 through a reverse-polarity MOSFET) and no USB-UART, with the same GPIOs
# (a programming header instead of USB). Wake pins are RTC GPIOs (ext0 wake: 0, 2, 4,
# 12-15, 25-27, 32-39). The battery divider on GPIO35 is 1M/1M there (100k/100k would draw
# 16 uA, more than the sleeping chip).
# battery_motion -- PIR that wakes the chip
#     BOM: AM312 PIR (~15 uA, 2.7-12 V, output high ~2 s per trigger), 2xAA holder.
#     Wiring: PIR OUT -> GPIO27 (RTC GPIO17; ext0 wake on high).
# battery_bed -- pressure mat behind a comparator
#     BOM: FSR mat + 10k divider as the bed role's, nano-power comparator with push-pull
#     output (TLV3691, 75 nA) with ~100 mV hysteresis, trimmer for the threshold.
#     Wiring: divider midpoint -> comparator +in, trimmer -> -in, output -> GPIO33
#     (RTC GPIO8; 1 = occupied). The divider draws only while loaded: an empty mat is open.
# button -- wearable alarm button (pendant, wristband)
#     BOM: ESP32-PICO-D4 or WROOM module, tactile switch, LED + 1k (a 2 mA flash is seen in
#     daylight), CR2032 holder with a 470 uF low-ESR tantalum + 100 uF ceramic across it (see
#     trygg bench energy: a coin cell cannot source the radio's peak current alone).
#     Wiring: switch GPIO13 to GND with a 1M external pull-up (the internal pull-up is off in
#     deep sleep unless held by the RTC domain; 1M draws 3 uA when pressed only), LED GPIO22.
# bridge -- ESP-NOW bridge on the hub's USB port
#     BOM: an ESP32-DevKitC as it is (powered by the hub's USB); nothing wired. Its console
#     UART is the link to the hub (protocol/bridge.py).

BATTERY_ADC = 35
BATTERY_DIVIDER = 2
# Powered from a USB mains adapter (5 V to the board's 3.3 V regulator): what GPIO35 measures
# is the supply, reported as health; the hub raises no low-battery notice for it. A board
# file for a battery-powered build says "battery" (protocol.messages.POWER_SOURCES).
POWER = "mains"

# Idle electrical level of inputs as wired, where the simulated board starts: the smoke
# line's two 4k7 resistors put it at half scale (read_u16 scale); the dispenser's tray is in
# and the carousel stands with a compartment over the chute.
IDLE_LEVELS = {"smoke_line": 32768, "tray": 0, "index": 1}

PINS = {
    "motion": {"pir": 27, "door": 26},
    "bed": {"bed": 34},
    "smoke": {"smoke_alarm": 25, "smoke_test": 33, "smoke_line": 32},
    "dispenser": {"servo": 18, "index": 4, "slot": 19, "tray": 23, "buzzer": 21, "led": 22},
    # The call point's prompt: a passive piezo buzzer driven by a 2N2222 + 1k base resistor
    # (PWM) and an LED + 330R, as on the dispenser.
    "call_point": {"call": 13, "buzzer": 21, "led": 22},
    "battery_motion": {"pir": 27},
    "battery_bed": {"bed_occupied": 33},
    "button": {"button": 13, "led": 22},
    "bridge": {},
}
