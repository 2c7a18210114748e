"""Replay of recorded homes through the hub's own rules path (``trygg hub replay``, ``trygg hub
export``, ``trygg bench care``).

``recording``: the versioned recording format (README.md beside this file), read as hostile
input. ``firmware_model``: raw sensor observations -> the frames the firmware would send.
``runner``: events through the store and the alarm desk of ``trygg hub run``, time advanced by
ticks, in a temporary store that never forwards. ``export``: the hub's store -> a recording.
``falls``: where a fall can be injected into a recording, and the cut that injects it.
"""
