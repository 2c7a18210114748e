"""Trygg ESP32 firmware (MicroPython), copied onto the device as the top-level `firmware`."""

# Reported in the hello. The same as the trygg distribution's version (pyproject.toml; a test
# holds them together), which `trygg provision` compares with a production image's.
VERSION = "0.1.0"


def forget(names: "tuple[str, ...]") -> None:
    """Drop modules from sys.modules and from their parent packages, then collect, so that
    code needed only for a while (boot, a set_config) gives its RAM back to the heap."""
    import gc
    import sys

    for name in names:
        if sys.modules.pop(name, None) is not None:
            parent, _, child = name.rpartition(".")
            package = sys.modules.get(parent)
            if package is not None and hasattr(package, child):
                delattr(package, child)
    gc.collect()
