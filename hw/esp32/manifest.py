"""MicroPython freeze manifest: Trygg's production firmware image for an ESP32.

The packages are frozen into the firmware, so their bytecode, constants and names live in
flash and are used from there: the heap holds only what the firmware creates while it runs
(see "Production firmware image" in the README). Build with the MicroPython tree, from
ports/esp32 (ESP-IDF set up as its README says):

    make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/trygg/hw/esp32/manifest.py

Run by MicroPython's build (tools/manifestfile.py), on CPython, never on the device: paths are
relative to this file. /main.py and trygg.json stay on the board's filesystem (trygg provision).
"""

include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules (asyncio, ...)

package("protocol", base_path="../..")
package("firmware", base_path="../..")
# Of hw/, what a device runs: the HAL interface, storage, the ESP32 HAL and the board files.
# Not the simulated board, the HIL rig's code (rig.py, carousel.py, boards/hil_rig.py) or this
# manifest. tests/test_firmware_static.py checks this list against the tree.
package(
    "hw",
    files=[
        "__init__.py",
        "hal.py",
        "select.py",
        "storage.py",
        "boards/__init__.py",
        "boards/esp32_devkitc.py",
        "esp32/__init__.py",
        "esp32/hal.py",
    ],
    base_path="../..",
)
