"""The ``[arc]`` section of the hub's TOML configuration, validated before anything runs.

Example (every key but ``account`` and the receivers' ``name``/``host``/``port`` has a default)::

    [arc]
    account = "1234"                # the hub's own ARC account: link tests and link notices
    ack_timeout = 10.0
    retry_backoff_initial = 1.0
    retry_backoff_max = 60.0
    failover_after = 2
    supervision_interval = 60.0

    [[arc.receivers]]               # first = primary; the others, in order, are fallbacks
    name = "primary"
    host = "arc1.example.net"
    port = 9000
    protocol = "tcp"                # tcp | udp
    format = "SIA-DCS"              # SIA-DCS | ADM-CID
    receiver_number = "1"           # DC-09 "R" field, 1-6 hex digits; optional
    line = "0"                      # DC-09 "L" field (account prefix), 1-6 hex digits
    key = "00112233445566778899aabbccddeeff"  # AES-128/192/256 as 32/48/64 hex digits; optional

Errors raise :class:`ArcConfigError` naming the key (``[arc].receivers[1].port: ...``).
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import dc09
from .report import ReportError, normalise_account

PROTOCOLS = ("tcp", "udp")
FORMATS = ("SIA-DCS", "ADM-CID")

# Defaults and why (each also documented in the README's receiver configuration section).
DEFAULTS: dict[str, Any] = {
    # A receiver on a healthy path answers in well under a second; 10 s tolerates a congested
    # mobile uplink, and two such waits before failover stay inside EN 50136-1's 20 s for the
    # strictest transmission-time class (D4/M4).
    "ack_timeout": 10.0,
    # Opening a TCP connection is bounded separately: a refused or black-holed connect must
    # not eat the whole ACK budget.
    "connect_timeout": 5.0,
    # Backoff after a failed attempt: starts at 1 s (a receiver restart takes seconds),
    # doubles, and stops growing at 60 s so an outage ends with delivery within a minute.
    "retry_backoff_initial": 1.0,
    "retry_backoff_max": 60.0,
    # Consecutive failures before a receiver counts as unreachable and traffic moves to the
    # next one (EN 50136-1 dual-path idea): 2 rides out one lost packet without flapping.
    "failover_after": 2,
    # Link test (DC-09 NULL message) to each receiver after this long without traffic, so the
    # centre notices a silent hub; 60 s is well inside EN 50136-1's 3-minute reporting time
    # for the strictest dual-path category (DP4), at about one 60-byte message a minute.
    "supervision_interval": 60.0,
    # A NAK with the receiver's clock (DC-09 §5.5.3.2) resyncs our timestamps and resends at
    # once; more NAKs in a row than this mean something else is wrong: back off instead.
    "nak_resend_limit": 3,
    # Contact ID group / SIA area of this home: one hub, one home, one area.
    "partition": 1,
}

_TOP_KEYS = {"account", "receivers", *DEFAULTS}
_RECEIVER_KEYS = {"name", "host", "port", "protocol", "format", "receiver_number", "line",
                  "key"}


class ArcConfigError(ValueError):
    """An ``[arc]`` setting is wrong; the message names the key and says what is allowed."""


@dataclass(frozen=True)
class ReceiverConfig:
    name: str
    host: str
    port: int
    protocol: str = "tcp"
    format: str = "SIA-DCS"
    receiver_number: str | None = None
    line: str = "0"
    key: bytes | None = None

    @property
    def address_label(self) -> str:
        return f"{self.name} ({self.protocol}://{self.host}:{self.port})"


@dataclass(frozen=True)
class ArcConfig:
    account: str
    receivers: tuple[ReceiverConfig, ...]
    ack_timeout: float = DEFAULTS["ack_timeout"]
    connect_timeout: float = DEFAULTS["connect_timeout"]
    retry_backoff_initial: float = DEFAULTS["retry_backoff_initial"]
    retry_backoff_max: float = DEFAULTS["retry_backoff_max"]
    failover_after: int = DEFAULTS["failover_after"]
    supervision_interval: float = DEFAULTS["supervision_interval"]
    nak_resend_limit: int = DEFAULTS["nak_resend_limit"]
    partition: int = DEFAULTS["partition"]


def _number(table: Mapping[str, Any], key: str, where: str, lo: float, hi: float,
            *, integer: bool = False) -> Any:
    value = table.get(key, DEFAULTS.get(key))
    ok_type = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "a whole number" if integer else "a number"
        raise ArcConfigError(f"{where}.{key}: {value!r} is not {kind}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ArcConfigError(f"{where}.{key}: {value!r} outside {lo:g}..{hi:g}")
    return value if integer else float(value)


def _hex_field(value: Any, where: str, lo: int, hi: int) -> str:
    if not isinstance(value, str) or not lo <= len(value) <= hi or any(
            ch not in string.hexdigits for ch in value):
        raise ArcConfigError(f"{where}: {value!r} is not {lo}-{hi} hex digits")
    return value.upper()


def _unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise ArcConfigError(f"{where}: unknown key {extra[0]!r} (known: "
                             f"{', '.join(sorted(known))})")


def _receiver(table: Any, where: str) -> ReceiverConfig:
    if not isinstance(table, Mapping):
        raise ArcConfigError(f"{where}: expected a table ([[arc.receivers]])")
    _unknown(table, _RECEIVER_KEYS, where)
    for required in ("name", "host", "port"):
        if required not in table:
            raise ArcConfigError(f"{where}.{required}: missing")
    name = table["name"]
    if not isinstance(name, str) or not name or len(name) > 32 or not name.isprintable():
        raise ArcConfigError(f"{where}.name: {name!r} (1-32 printable characters)")
    host = table["host"]
    if not isinstance(host, str) or not host or len(host) > 253 or any(
            ch.isspace() for ch in host):
        raise ArcConfigError(f"{where}.host: {host!r} is not a host name or address")
    port = table["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ArcConfigError(f"{where}.port: {port!r} (1..65535)")
    protocol = table.get("protocol", "tcp")
    if protocol not in PROTOCOLS:
        raise ArcConfigError(f"{where}.protocol: {protocol!r} (one of {', '.join(PROTOCOLS)})")
    fmt = table.get("format", "SIA-DCS")
    if fmt not in FORMATS:
        raise ArcConfigError(f"{where}.format: {fmt!r} (one of {', '.join(FORMATS)})")
    number = table.get("receiver_number")
    receiver_number = None if number is None else _hex_field(number, f"{where}.receiver_number",
                                                             1, 6)
    line = _hex_field(table.get("line", "0"), f"{where}.line", 1, 6)
    key: bytes | None = None
    if table.get("key") is not None:
        key_text = table["key"]
        try:
            key = bytes.fromhex(key_text) if isinstance(key_text, str) else None
        except ValueError:
            key = None
        if key is None:
            raise ArcConfigError(f"{where}.key: not hex (give the AES key as 32, 48 or 64 "
                                 "hex digits)")
        if len(key) not in dc09.AES_KEY_SIZES:
            raise ArcConfigError(f"{where}.key: {len(key)} bytes; an AES key is 16, 24 or 32 "
                                 "bytes (32, 48 or 64 hex digits), DC-09 §5.4.5")
    return ReceiverConfig(name, host, port, protocol, fmt, receiver_number, line, key)


def load_arc_config(mapping: Mapping[str, Any], where: str = "[arc]") -> ArcConfig:
    """Validate the parsed ``[arc]`` table; ``where`` prefixes error messages (e.g. a path).

    Raises ArcConfigError naming the first bad key.
    """
    if not isinstance(mapping, Mapping):
        raise ArcConfigError(f"{where}: expected a table")
    _unknown(mapping, _TOP_KEYS, where)
    if "account" not in mapping:
        raise ArcConfigError(f"{where}.account: missing (the hub's ARC account, 3-16 hex "
                             "digits, for link tests and link notices)")
    try:
        account = normalise_account(mapping["account"], f"{where}.account")
    except ReportError as exc:
        raise ArcConfigError(str(exc)) from None
    receivers_raw = mapping.get("receivers")
    if not isinstance(receivers_raw, list) or not receivers_raw:
        raise ArcConfigError(f"{where}.receivers: at least one receiver ([[arc.receivers]]) "
                             "is needed")
    if len(receivers_raw) > 8:
        raise ArcConfigError(f"{where}.receivers: {len(receivers_raw)} receivers, at most 8")
    receivers = tuple(_receiver(r, f"{where}.receivers[{i}]")
                      for i, r in enumerate(receivers_raw))
    names = [r.name for r in receivers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ArcConfigError(f"{where}.receivers[{i}].name: {name!r} used twice")
    ack_timeout = _number(mapping, "ack_timeout", where, 0.05, 300)
    backoff_initial = _number(mapping, "retry_backoff_initial", where, 0.01, 3600)
    backoff_max = _number(mapping, "retry_backoff_max", where, 0.01, 86400)
    if backoff_max < backoff_initial:
        raise ArcConfigError(f"{where}.retry_backoff_max: {backoff_max:g} is less than "
                             f"retry_backoff_initial ({backoff_initial:g})")
    return ArcConfig(
        account=account,
        receivers=receivers,
        ack_timeout=ack_timeout,
        connect_timeout=_number(mapping, "connect_timeout", where, 0.05, 300),
        retry_backoff_initial=backoff_initial,
        retry_backoff_max=backoff_max,
        failover_after=_number(mapping, "failover_after", where, 1, 100, integer=True),
        supervision_interval=_number(mapping, "supervision_interval", where, 0.05, 86400),
        nak_resend_limit=_number(mapping, "nak_resend_limit", where, 1, 100, integer=True),
        partition=_number(mapping, "partition", where, 0, 99, integer=True),
    )
