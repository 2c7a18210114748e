# Source of the device's /main.py (copied there by provisioning and tools/sim/board.py): all of
# the firmware lives in the firmware package, so this file never needs updating.
import firmware.main  # noqa: F401
