"""The protocol's one error type.

Every way a peer (or a corrupted flash page) can hand us bad bytes ends in
``ProtocolError`` with a machine-readable ``reason`` from the list below, so
that the hub can count rejections per reason and device, and the firmware can
report them in its next heartbeat. Nothing in ``protocol/`` raises anything
else for bad input (h11's ``ProtocolError`` is the model).
"""

# Reasons. Short ASCII words: they end up in counters, logs and JSON.
TRUNCATED = "truncated"  # input ended inside an item
OVERSIZED = "oversized"  # frame longer than MAX_FRAME_SIZE
NON_CANONICAL = "non_canonical"  # not RFC 8949 §4.2.1 deterministic encoding
WRONG_TAG = "wrong_tag"  # a CBOR tag other than COSE_Mac0 (17)
MALFORMED = "malformed"  # not well-formed CBOR, or not the COSE_Mac0 shape
UNSUPPORTED = "unsupported"  # well-formed CBOR we do not accept (floats, tags...)
BAD_HEADER = "bad_header"  # COSE header parameters we do not accept
BAD_ALG = "bad_alg"  # algorithm other than HMAC 256/64 (4) or 256/256 (5)
UNKNOWN_KID = "unknown_kid"  # no key for this key id (device id)
BAD_MAC = "bad_mac"  # authentication tag does not verify
REPLAYED = "replayed"  # sequence number already accepted
TOO_OLD = "too_old"  # sequence number left of the replay window
SCHEMA = "schema"  # authenticated, but not a valid Trygg message
WRONG_DIRECTION = "wrong_direction"  # a hub->device message sent upstream or vice versa
BAD_KEY = "bad_key"  # key material of the wrong size
SEQUENCE_EXHAUSTED = "sequence_exhausted"  # sender used up its sequence space

REASONS = (
    TRUNCATED,
    OVERSIZED,
    NON_CANONICAL,
    WRONG_TAG,
    MALFORMED,
    UNSUPPORTED,
    BAD_HEADER,
    BAD_ALG,
    UNKNOWN_KID,
    BAD_MAC,
    REPLAYED,
    TOO_OLD,
    SCHEMA,
    WRONG_DIRECTION,
    BAD_KEY,
    SEQUENCE_EXHAUSTED,
)


class ProtocolError(Exception):
    """Bad input from a peer or from storage.

    ``reason`` is one of ``REASONS``; ``detail`` is a short human-readable
    explanation (where in the input, which limit) for logs and tools.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        if self.detail:
            return self.reason + ": " + self.detail
        return self.reason
