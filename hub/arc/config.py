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
    protocol = "dc09"               # the centre's protocol (hub/arc/protocols/); default dc09
    host = "arc1.example.net"
    port = 9000
    transport = "tcp"               # tcp | udp, as the protocol allows
    # ... then the protocol's own keys (DC-09: format, receiver_number, line, key)

Read with the hub's one TOML reader (``trygg.hub.config_reader``): errors raise
:class:`ArcConfigError` naming the file and key (``hub.toml: [arc].receivers[1].port: ...``).
An older spelling is still read: ``protocol = "tcp"`` or ``"udp"`` means DC-09 over that
transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config_reader import ConfigError, TableReader
from . import protocols
from .protocol import ReceiverConfig
from .report import ReportError, normalise_account

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
    # Delivered reports are remembered this long, so that the hub submitting one again after
    # a crash (it marks its alarm forwarded in its own database, a moment later) gets
    # "delivered already" instead of a second alarm at the centre. The hub re-submits at its
    # next start, so a day would do; 30 days also answers "what did the centre get, when".
    "delivered_keep_days": 30.0,
}

# Legacy spelling of a DC-09 receiver: the transport given as its protocol.
_LEGACY_TRANSPORTS = ("tcp", "udp")
MAX_RECEIVERS = 8


class ArcConfigError(ConfigError):
    """An ``[arc]`` setting is wrong; the message names the key and says what is allowed."""


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
    delivered_keep_days: float = DEFAULTS["delivered_keep_days"]


def _receiver(reader: TableReader) -> ReceiverConfig:
    name = reader.text("name", max_len=32)
    if not name:
        raise reader.error("name", "empty (1-32 printable characters)")
    host = reader.text("host", max_len=253)
    if not host or any(ch.isspace() for ch in host):
        raise reader.error("host", f"{host!r} is not a host name or address")
    port = reader.integer("port", 0, 1, 65535) if reader.has("port") else None
    if port is None:
        raise reader.error("port", "missing (required)")
    protocol_name = reader.text("protocol", protocols.DEFAULT)
    transport_default: str | None = None
    if protocol_name in _LEGACY_TRANSPORTS:
        protocol_name, transport_default = "dc09", protocol_name
    try:
        protocol = protocols.get(protocol_name)
    except protocols.UnknownProtocol:
        raise reader.error("protocol", f"{protocol_name!r} (one of "
                           f"{', '.join(protocols.names())})") from None
    if transport_default is not None and reader.has("transport"):
        raise reader.error("transport", "given twice: also as protocol = "
                           f"{transport_default!r} (write protocol = \"dc09\")")
    transport = reader.choice("transport", transport_default or protocol.transports[0],
                              protocol.transports)
    common = ReceiverConfig(name=name, host=host, port=port, protocol=protocol.name,
                            transport=transport)
    receiver = protocol.parse_receiver(reader, common)
    reader.finish()
    return receiver


def load_arc_config(mapping: Any, where: str = "[arc]", *, source: str = "") -> ArcConfig:
    """Validate the parsed ``[arc]`` table; ``source`` (the file) and ``where`` (the table's
    name) prefix error messages.

    Raises ArcConfigError naming the first bad key.
    """
    reader = TableReader(source, where, mapping, error_type=ArcConfigError)
    if not reader.has("account"):
        raise reader.error("account", "missing (the hub's ARC account, 3-16 hex digits, for "
                           "link tests and link notices)")
    try:
        account = normalise_account(reader.get("account", str, None), reader.path("account"))
    except ReportError as exc:
        raise ArcConfigError(f"{source}: {exc}" if source else str(exc)) from None
    receivers = tuple(_receiver(r) for r in reader.tables(
        "receivers", at_least=1, at_most=MAX_RECEIVERS, what="receiver ([[arc.receivers]])"))
    for i, rc in enumerate(receivers):
        if rc.name in [r.name for r in receivers[:i]]:
            raise reader.error(f"receivers[{i}].name", f"{rc.name!r} used twice")
    ack_timeout = reader.number("ack_timeout", DEFAULTS["ack_timeout"], 0.05, 300)
    backoff_initial = reader.number("retry_backoff_initial", DEFAULTS["retry_backoff_initial"],
                                    0.01, 3600)
    backoff_max = reader.number("retry_backoff_max", DEFAULTS["retry_backoff_max"], 0.01,
                                86400)
    if backoff_max < backoff_initial:
        raise reader.error("retry_backoff_max", f"{backoff_max:g} is less than "
                           f"retry_backoff_initial ({backoff_initial:g})")
    config = ArcConfig(
        account=account,
        receivers=receivers,
        ack_timeout=ack_timeout,
        connect_timeout=reader.number("connect_timeout", DEFAULTS["connect_timeout"], 0.05,
                                      300),
        retry_backoff_initial=backoff_initial,
        retry_backoff_max=backoff_max,
        failover_after=reader.integer("failover_after", DEFAULTS["failover_after"], 1, 100),
        supervision_interval=reader.number("supervision_interval",
                                           DEFAULTS["supervision_interval"], 0.05, 86400),
        nak_resend_limit=reader.integer("nak_resend_limit", DEFAULTS["nak_resend_limit"], 1,
                                        100),
        partition=reader.integer("partition", DEFAULTS["partition"], 0, 99),
        delivered_keep_days=reader.number("delivered_keep_days",
                                          DEFAULTS["delivered_keep_days"], 1, 3650),
    )
    for i, rc in enumerate(receivers):
        problem = protocols.get(rc.protocol).check
        found = problem(config, i) if problem is not None else None
        if found is not None:
            raise reader.error(f"receivers[{i}].{found[0]}", found[1])
    reader.finish()
    return config
