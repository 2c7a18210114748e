"""MicroPython freeze manifest: Trygg's production firmware image for an ESP32.

The packages are frozen into the firmware, so their bytecode, constants and names live in
flash and are used from there: the heap holds only what the firmware creates while it runs
(see "Production firmware image" in the README). Build with the MicroPython tree, from
ports/esp32 (ESP-IDF set up as its README says):

    make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/trygg/hw/esp32/manifest.py

Run by MicroPython's build (tools/manifestfile.py), on CPython, never on the device: paths are
relative to this file. /main.py and trygg.json stay on the board's filesystem (trygg provision).
"""

import os

include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules (asyncio, ...)

package("protocol", base_path="../..")
package("firmware", base_path="../..")
# Of hw/, what a device runs: everything but the simulated board (hw/sim/), the HIL rig
# (hw/rig/) and this manifest. MicroPython's build runs a manifest from the manifest's own
# folder, so the walk is relative to it. tests/firmware/test_static.py checks the result.
_NOT_ON_A_DEVICE = ("sim", "rig", "__pycache__")
hw_files = []
for folder, subfolders, names in os.walk("../../hw"):
    subfolders[:] = sorted(d for d in subfolders if d not in _NOT_ON_A_DEVICE)
    for name in sorted(names):
        path = os.path.relpath(os.path.join(folder, name), "../../hw").replace(os.sep, "/")
        if name.endswith(".py") and path != "esp32/manifest.py":
            hw_files.append(path)
package("hw", files=hw_files, base_path="../..")
