"""Trygg wire protocol: signed CBOR (COSE_Mac0 over deterministic CBOR).

Sans I/O and identical on MicroPython and CPython: the same files are copied
onto the ESP32 (imported there as ``protocol``) and installed on the hub (as
``trygg.protocol``). Nothing here opens a socket, sleeps or reads a clock.

Modules: ``frame`` (seal and open whole messages: start here), ``messages``
(schema), ``cose`` (COSE_Mac0 and HMAC), ``cbor`` (deterministic CBOR),
``replay`` (receiver window), ``sequence`` (sender counter that survives power
loss), ``errors`` (``ProtocolError`` and its reasons). ``trygg.cddl`` is the
normative schema.

Kept free of imports so that a device loads only the modules it uses.
"""

PROTOCOL_VERSION = 1
