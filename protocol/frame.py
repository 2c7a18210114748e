"""Whole messages in and out of frames: the API most callers need.

Sender::

    frame = seal({"type": "event", "uptime": 12, "event": "motion"}, key, kid, seq)

Receiver (the order matters, RFC 9052 §6.3 then RFC 8613 §7.4): parse, look up
the key, verify the MAC, replay-check the sequence number, and only then decode
the payload::

    envelope, msg = open_message(frame, UP, keys.get, windows.get)
    ...store msg...
    windows.get(envelope.kid).accept(envelope.seq)
"""

from . import cose, messages
from .cose import ALG_HMAC_256_64, DOWN, UP, Envelope, MacKey  # noqa: F401  (re-exported)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing exists on CPython only; annotations are never evaluated on the device
    from typing import Any

def seal(msg: "dict[str, Any]", key: MacKey, kid: bytes, seq: int,
         alg: int = ALG_HMAC_256_64) -> bytes:
    """Validate, encode and sign ``msg``; its type decides the direction.

    Raises ``ProtocolError`` (SCHEMA for an invalid message).
    """
    payload = messages.encode(msg)
    return cose.seal(payload, key, kid, seq, messages.direction_of(msg["type"]), alg)


def open_message(data: bytes, direction: int, key_for_kid: "Any",
                 window_for_kid: "Any" = None) -> "tuple[Envelope, dict[str, Any]]":
    """Authenticate, replay-check and decode a frame: ``(envelope, message)``.

    ``key_for_kid(kid) -> MacKey | None``; ``window_for_kid(kid) ->
    ReplayWindow | None`` (None: no replay check, e.g. a decoding tool). The
    window is only checked, not updated: call ``window.accept(seq)`` once the
    message has been handled. Raises ``ProtocolError``.
    """
    envelope = cose.open_frame(data, direction, key_for_kid)
    if window_for_kid is not None:
        window = window_for_kid(envelope.kid)
        if window is not None:
            window.check(envelope.seq)
    return envelope, messages.decode(envelope.payload, direction)
