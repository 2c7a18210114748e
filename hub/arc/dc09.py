"""SIA DC-09 (ANSI/SIA DC-09-2013) framing, sans-I/O: text in, bytes out, and back.

No sockets, no clock: every function that needs the time is handed it. Layout of one frame
(DC-09 §5.5.1):

    <LF> crc 0LLL "id" seq [Rrcvr] Lpref #acct [data] [x-data]... timestamp <CR>

- crc: CRC-16 (polynomial 0x8005, reflected, initial value 0; "CRC-16/ARC") over the bytes from
  the opening quote of the ID token up to the end of the timestamp, as 4 upper-case hex
  characters (§5.5.1.2).
- 0LLL: the length of the same region, "0" and 3 upper-case hex digits (§5.5.1.3).
- seq: 4 decimal digits, 0001-9999, then back to 0001; a retransmission repeats it, and the
  receiver echoes it in its answer (§5.5.1.5).
- Rrcvr: optional receiver number, Lpref: account prefix (line), both 1-6 hex digits;
  #acct: 3-16 hex digits (§5.5.1.6).
- timestamp: _HH:MM:SS,MM-DD-YYYY in UTC (§5.5.1.8); required when encrypted.
- Encryption (§5.4): AES-128/192/256 in CBC mode with an all-zero IV. The encrypted region
  starts after "[" and runs through the timestamp; it begins with pseudo-random pad
  characters (never "|", "[" or "]") ended by "|", so that the region is a multiple of 16
  bytes, adding 16 pad bytes when it already is. It is sent as upper-case hex and the ID
  token gets a "*" (e.g. "*SIA-DCS").

Answers from the receiver (§5.5.3): ACK (echoes seq; "*ACK" with an encrypted timestamp when
the message was encrypted), NAK (seq 0000 and the receiver's clock: the message's timestamp
was outside the receiver's window; never encrypted) and DUH (understood the frame, cannot
process the message).

Every malformed input raises :class:`Dc09Error` with a machine-readable ``reason``.
"""

from __future__ import annotations

import calendar
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .report import shorten

LF = 0x0A
CR = 0x0D

# The length field has 3 hex digits (§5.5.1.3): no frame body exceeds 0xFFF bytes.
MAX_BODY = 0xFFF
# LF + crc(4) + length(4) + body + CR.
MAX_FRAME = MAX_BODY + 10

SEQUENCE_FIRST = 1
SEQUENCE_LAST = 9999

MESSAGE_TOKENS = ("SIA-DCS", "ADM-CID", "NULL")
RESPONSE_TOKENS = ("ACK", "NAK", "DUH", "RSP")

AES_KEY_SIZES = (16, 24, 32)
_ZERO_IV = bytes(16)
_BLOCK = 16

# Characters of free text (room names, alarm text) that would end a field or a frame.
_FRAME_CHARS = "[]|\"\r\n"
# Pad characters: printable, never "|", "[" or "]" (§5.4.4.2). Binary pad is allowed, but
# receivers that decode the region as ASCII drop such bytes; letters and digits are safe.
_PAD_ALPHABET = (string.ascii_letters + string.digits).encode("ascii")


class Dc09Error(Exception):
    """A frame or field that does not follow SIA DC-09.

    ``reason`` is machine-readable (e.g. "crc", "length", "format"); ``detail`` says what.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def crc16(data: bytes) -> int:
    """CRC-16/ARC as DC-09 §5.5.1.2 specifies (reflected 0x8005, init 0, no final XOR)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def next_sequence(seq: int) -> int:
    """The sequence number after ``seq``: 9999 is followed by 0001 (§5.5.1.5)."""
    return SEQUENCE_FIRST if seq >= SEQUENCE_LAST else seq + 1


def format_timestamp(epoch: float) -> str:
    """UTC epoch seconds -> "_HH:MM:SS,MM-DD-YYYY" (§5.5.1.8)."""
    return time.strftime("_%H:%M:%S,%m-%d-%Y", time.gmtime(int(epoch)))


def parse_timestamp(text: str) -> float:
    """"_HH:MM:SS,MM-DD-YYYY" (leading "_" optional) -> UTC epoch seconds."""
    try:
        parsed = time.strptime(text.lstrip("_"), "%H:%M:%S,%m-%d-%Y")
    except ValueError:
        raise Dc09Error("timestamp", f"not a DC-09 timestamp: {text[:40]!r}") from None
    return float(calendar.timegm(parsed))


def _check_hex(value: str, lo: int, hi: int, what: str) -> str:
    if not lo <= len(value) <= hi or any(ch not in string.hexdigits for ch in value):
        raise Dc09Error("field", f"{what}: {value!r} is not {lo}-{hi} hex digits")
    return value.upper()


def clean_text(text: str, limit: int) -> str:
    """Free text made safe for a DC-09 field: ASCII, no framing characters, at most ``limit``
    characters, shortened between words (report.shorten).

    Receivers differ in how they decode the text fields (DC-09 says Windows-1252; some decode
    ASCII and then fail the CRC), and a frame the receiver cannot check is an alarm that does
    not arrive, so letters are transliterated (kök -> kok, Ærø -> AEro).
    """
    import unicodedata

    out = []
    for ch in text:
        if ch in _TRANSLITERATE:
            out.append(_TRANSLITERATE[ch])
            continue
        for base in unicodedata.normalize("NFKD", ch):
            if base.isascii() and base.isprintable() and base not in _FRAME_CHARS:
                out.append(base)
            elif base in "\r\n\t":
                out.append(" ")
    return shorten("".join(out), limit)


_TRANSLITERATE = {"æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D",
                  "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ł": "l", "Ł": "L"}


@dataclass(frozen=True)
class Address:
    """Who a frame is for and from: receiver number, account prefix (line) and account."""

    account: str
    line: str = "0"
    receiver: str | None = None

    def header(self) -> str:
        account = _check_hex(self.account, 3, 16, "account")
        line = _check_hex(self.line, 1, 6, "line (account prefix)")
        rcvr = "" if self.receiver is None else "R" + _check_hex(self.receiver, 1, 6,
                                                                 "receiver number")
        return f"{rcvr}L{line}#{account}"


def sia_dcs_data(account: str, code: str, zone: int, partition: int) -> str:
    """SIA-DCS message data (§5.5.1.7, SIA DC-03 blocks): "#acct|Nri<area>/<code><zone>"."""
    if len(code) != 2 or not code.isalpha() or not code.isupper():
        raise Dc09Error("field", f"SIA event code {code!r} is not two upper-case letters")
    if not 0 <= zone <= 999 or not 0 <= partition <= 99:
        raise Dc09Error("field", f"zone {zone} / area {partition} out of range")
    return f"#{account.upper()}|Nri{partition}/{code}{zone:03d}"


def adm_cid_data(account: str, qualifier: int, event: int, partition: int, zone: int) -> str:
    """ADM-CID message data (§5.5.1.7, SIA DC-05 fields): "#acct|QEEE GG ZZZ"."""
    if qualifier not in (1, 3, 6) or not 0 <= event <= 999:
        raise Dc09Error("field", f"Contact ID qualifier {qualifier} / event {event} invalid")
    if not 0 <= zone <= 999 or not 0 <= partition <= 99:
        raise Dc09Error("field", f"zone {zone} / group {partition} out of range")
    return f"#{account.upper()}|{qualifier}{event:03d} {partition:02d} {zone:03d}"


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    if len(key) not in AES_KEY_SIZES:
        raise Dc09Error("key", f"AES key of {len(key)} bytes; DC-09 §5.4.5 allows 16, 24 or 32")
    return Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV))


def random_pad(count: int) -> bytes:
    import secrets

    return bytes(secrets.choice(_PAD_ALPHABET) for _ in range(count))


def encrypt_region(region: bytes, key: bytes,
                   pad: Callable[[int], bytes] = random_pad) -> str:
    """pad + "|" + region, AES-CBC (zero IV), as upper-case hex (§5.4.4, §5.4.6)."""
    pad_len = _BLOCK - (len(region) + 1) % _BLOCK  # 1..16: a full block when already aligned
    plain = pad(pad_len) + b"|" + region
    encryptor = _cipher(key).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex().upper()


def decrypt_region(hex_text: str, key: bytes) -> bytes:
    """The inverse of encrypt_region, pad removed (up to the first "|", if any).

    A receiver may pad its answer without the "|" terminator; then the region is returned
    from its first "#" or "]", where every DC-09 data region starts.
    """
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        raise Dc09Error("encryption", "encrypted region is not hex") from None
    if not raw or len(raw) % _BLOCK:
        raise Dc09Error("encryption", f"encrypted region of {len(raw)} bytes is not a "
                        "whole number of AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    bar = plain.find(b"|")
    starts = [i for i in (plain.find(b"#"), plain.find(b"]")) if i >= 0]
    if bar >= 0 and (not starts or bar < min(starts)):
        return plain[bar + 1:]
    if not starts:
        raise Dc09Error("encryption", "decrypted region has no data (wrong key?)")
    return plain[min(starts):]


def frame(body: bytes) -> bytes:
    """Wrap a body ('"id"...timestamp') as LF crc 0LLL body CR (§5.5.1.2-3)."""
    if len(body) > MAX_BODY:
        raise Dc09Error("length", f"body of {len(body)} bytes exceeds {MAX_BODY}")
    return b"\n%04X0%03X%s\r" % (crc16(body), len(body), body)


def encode_message(token: str, seq: int, address: Address, data: str,
                   extended: Iterable[tuple[str, str]] = (), *, timestamp: float | None,
                   key: bytes | None = None,
                   pad: Callable[[int], bytes] = random_pad) -> bytes:
    """One DC-09 message as bytes on the wire.

    ``data`` is the message data without brackets ("" for NULL), ``extended`` the extended
    data blocks as (identifier letter, value) pairs, ``timestamp`` UTC epoch seconds (None:
    no timestamp, allowed only unencrypted). Raises Dc09Error for out-of-range fields.
    """
    if token not in MESSAGE_TOKENS:
        raise Dc09Error("field", f"unknown message token {token!r}")
    if not SEQUENCE_FIRST <= seq <= SEQUENCE_LAST:
        raise Dc09Error("field", f"sequence number {seq} outside 0001-9999")
    if key is not None and timestamp is None:
        raise Dc09Error("field", "an encrypted message needs a timestamp (DC-09 §5.5.1.8)")
    region = data + "]"
    for ident, value in extended:
        if len(ident) != 1 or not ident.isupper() or any(ch in _FRAME_CHARS for ch in value):
            raise Dc09Error("field", f"extended data [{ident}...] invalid")
        region += f"[{ident}{value}]"
    if timestamp is not None:
        region += format_timestamp(timestamp)
    head = f'"{"*" if key else ""}{token}"{seq:04d}{address.header()}['
    if key is None:
        body = (head + region).encode("ascii")
    else:
        body = (head + encrypt_region(region.encode("ascii"), key, pad)).encode("ascii")
    return frame(body)


@dataclass(frozen=True)
class Frame:
    """A parsed DC-09 frame (message or answer), decrypted when a key was given."""

    token: str  # without "*"
    encrypted: bool
    seq: int
    receiver: str | None
    line: str | None
    account: str | None
    data: str  # the message data, between "[" and its "]"
    extended: tuple[str, ...]  # extended data blocks, without brackets
    timestamp: float | None


def _split_header(text: str) -> tuple[str | None, str | None, str | None, str]:
    """Receiver ("R"), line ("L") and account ("#") fields up to "["; returns the rest too.

    Each field is a tag and a run of hex digits, in any order: receivers disagree on the
    order in a NAK (one sends "R0L0A0[", where the line field then reads "0A0"); the NAK's
    header is not used, only its timestamp.
    """
    fields: dict[str, str] = {}
    i = 0
    while i < len(text) and text[i] != "[":
        tag = text[i]
        if tag not in "RL#":
            # Not a field tag: skipped, not fatal. The CRC already proved the frame intact,
            # and only the sequence number pairs an answer with a message; pysiaalarm, for
            # one, echoes an absent receiver number as "None".
            i += 1
            continue
        j = i + 1
        while j < len(text) and text[j] in string.hexdigits:
            j += 1
        if j == i + 1:
            raise Dc09Error("format", f"empty {tag!r} field in the frame header")
        fields[tag] = text[i + 1:j]
        i = j
    if i >= len(text):
        raise Dc09Error("format", "no '[' data block")
    return fields.get("R"), fields.get("L"), fields.get("#"), text[i + 1:]


def parse_frame(raw: bytes, key: bytes | None = None) -> Frame:
    """Parse one frame (LF ... CR, as FrameReader yields it); check CRC and length.

    An encrypted frame is decrypted with ``key``; without a key its data is left as the hex
    text. Raises Dc09Error with reason "format", "crc", "length", "encryption" or "timestamp".
    """
    if len(raw) < 12 or raw[0] != LF or raw[-1] != CR:
        raise Dc09Error("format", f"not an LF...CR frame ({len(raw)} bytes)")
    if len(raw) > MAX_FRAME:
        raise Dc09Error("length", f"frame of {len(raw)} bytes exceeds {MAX_FRAME}")
    try:
        head = raw[1:9].decode("ascii")
        crc_sent = int(head[:4], 16)
        length_sent = int(head[4:], 16)
    except ValueError:
        raise Dc09Error("format", "CRC or length field is not hex") from None
    body = raw[9:-1]
    if length_sent != len(body):
        raise Dc09Error("length", f"length field says {length_sent}, body has {len(body)}")
    if crc16(body) != crc_sent:
        raise Dc09Error("crc", f"CRC {crc_sent:04X} sent, {crc16(body):04X} computed")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise Dc09Error("format", "body is not ASCII") from None
    if not text.startswith('"') or text.count('"') < 2:
        raise Dc09Error("format", "no quoted ID token")
    end = text.index('"', 1)
    token = text[1:end]
    encrypted = token.startswith("*")
    token = token.lstrip("*")
    if token not in MESSAGE_TOKENS + RESPONSE_TOKENS:
        raise Dc09Error("format", f"unknown ID token {token[:12]!r}")
    rest = text[end + 1:]
    if len(rest) < 4 or not rest[:4].isdigit():
        raise Dc09Error("format", "no 4-digit sequence number")
    seq = int(rest[:4])
    receiver, line, account, region = _split_header(rest[4:])
    if encrypted:
        if key is None:
            raise Dc09Error("encryption", "encrypted frame and no key")
        try:
            region = decrypt_region(region, key).decode("ascii")
        except UnicodeDecodeError:
            raise Dc09Error("encryption", "decrypted region is not ASCII (wrong key?)") from None
    close = region.find("]")
    if close < 0:
        raise Dc09Error("format", "data block has no ']'")
    data = region[:close]
    rest = region[close + 1:]
    extended: list[str] = []
    while rest.startswith("["):
        end_x = rest.find("]")
        if end_x < 0:
            raise Dc09Error("format", "extended data block has no ']'")
        extended.append(rest[1:end_x])
        rest = rest[end_x + 1:]
    timestamp = parse_timestamp(rest) if rest else None
    if encrypted and timestamp is None:
        raise Dc09Error("format", "encrypted frame without timestamp")
    return Frame(token, encrypted, seq, receiver, line, account, data, tuple(extended),
                 timestamp)


class FrameReader:
    """Splits a byte stream into LF...CR frames, bounded in memory.

    Bytes before an LF, and any frame longer than ``max_frame``, are discarded and counted in
    ``discarded`` (a hostile or broken peer can send anything; it must cost bounded memory).
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.discarded = 0
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        self._buf += data
        while True:
            start = self._buf.find(b"\n")
            if start < 0:
                self.discarded += len(self._buf)
                self._buf.clear()
                return frames
            if start:
                self.discarded += start
                del self._buf[:start]
            end = self._buf.find(b"\r")
            if end < 0:
                if len(self._buf) > self.max_frame:
                    # No CR in time: drop this start and look for the next LF.
                    self.discarded += 1
                    del self._buf[:1]
                    continue
                return frames
            if end + 1 > self.max_frame:
                self.discarded += end + 1
                del self._buf[:end + 1]
                continue
            candidate = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            # An LF inside the candidate means the first one started a broken frame.
            inner = candidate.rfind(b"\n")
            if inner > 0:
                self.discarded += inner
                candidate = candidate[inner:]
            frames.append(candidate)
