"""Tests of protocol/ (CBOR, COSE frames, messages, replay window, sequence counter): the same
code on CPython and inside the MicroPython unix port, cross-checked with pycose, cwt, pycddl and
zcbor. Shared helpers: support/protocol.py."""
