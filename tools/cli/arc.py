"""``trygg arc listen`` and ``trygg arc test-alarm``: check an alarm-centre link by hand.

``listen`` is a small alarm-centre console for one protocol (``--protocol``, default dc09:
a SIA DC-09 receiver on pysiaalarm, an independent implementation) that prints each event as
an operator reads it; ``CONSOLES`` below says which console serves which protocol.
``test-alarm`` sends one test report to every receiver of a hub configuration
(``--config``: exactly ``trygg hub test-alarm``) or to one receiver given on the command line
(before a hub is configured), and prints the answer and round-trip time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from trygg.hub import config as hub_config
from trygg.hub.arc import (
    ArcConfig,
    ArcConfigError,
    ArcTestResult,
    load_arc_config,
    protocols,
    run_test_alarm,
)

# Which console serves which protocol in ``trygg arc listen --protocol NAME``: a module with
# ``add_listen_arguments(group)`` and ``async listen(args) -> int``. The mapping is the CLI's:
# consoles are tools (a technician's and the tests' receivers), and the hub's protocol modules
# never name anything under tools/. A protocol without an entry has no console.
CONSOLES: dict[str, str] = {
    "dc09": "trygg.tools.sim.arc_console",
    "scaip": "trygg.tools.sim.scaip_console",
    "sos-access": "trygg.tools.sim.sos_access_console",
}


def register(sub: Any) -> None:
    p = sub.add_parser("arc", help="alarm receiving centre link: listen as a receiver, "
                       "send a test alarm")
    asub = p.add_subparsers(dest="arc_command", metavar="ACTION", required=True)

    listen = asub.add_parser("listen", help="run an alarm-centre console for one protocol "
                             "and print each event in words")
    listen.add_argument("--protocol", choices=protocols.names(), default=protocols.DEFAULT,
                        help=f"the centre protocol (default {protocols.DEFAULT})")
    listen.add_argument("--port", type=int, required=True, help="port to listen on")
    listen.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    listen.add_argument("--count", type=int, default=0,
                        help="exit after this many events (default 0: run until Ctrl-C)")
    listen.add_argument("--hide-link-tests", action="store_true",
                        help="do not print link tests and heartbeats")
    listen.add_argument("--answer", metavar="ANSWER",
                        help="what the centre answers each alarm (default: it accepts): "
                        "SCAIP ok | hold [N] | not-treated | busy | error [SNU] | silent; "
                        "SOS Access ok | not-treated | error [STATUS] | a status number "
                        "(5 or 99: 'use failover'); the DC-09 console always acknowledges")
    for name in CONSOLES:
        console = _console(name)
        if console is not None:
            group = listen.add_argument_group(f"--protocol {name}")
            console.add_listen_arguments(group)
    listen.set_defaults(func=_listen)

    test = asub.add_parser("test-alarm", help="send a test report to each ARC receiver and "
                           "print ACK and round trip; with --config the same as trygg hub "
                           "test-alarm, without it to one receiver given here")
    test.add_argument("--config", type=Path,
                      help="the hub's TOML configuration: every receiver of its [arc], "
                      "sequence numbers from the hub's ARC outbox")
    test.add_argument("--host", default="127.0.0.1", help="receiver host, without --config")
    test.add_argument("--port", type=int, help="receiver port, without --config")
    test.add_argument("--account", help="account to test (default: [arc].account)")
    test.add_argument("--key", help="AES key as hex, without --config")
    test.add_argument("--format", choices=("SIA-DCS", "ADM-CID"), default="SIA-DCS")
    test.add_argument("--udp", action="store_true")
    test.add_argument("--timeout", type=float, default=10.0,
                      help="seconds to wait for each ACK, without --config (default 10)")
    test.add_argument("--json", action="store_true", help="one JSON document")
    test.set_defaults(func=_test_alarm)

    rotate = asub.add_parser("rotate-authentication", help="SOS Access: ask the receiver for a "
                             "new transmitter password and store it (never printed)")
    rotate.add_argument("--config", type=Path, required=True,
                        help="the hub's TOML configuration")
    rotate.add_argument("--receiver", required=True,
                        help="the name of an SOS Access receiver in its [arc]")
    rotate.set_defaults(func=_rotate)


def _error(message: str) -> int:
    print(f"trygg arc: {message}", file=sys.stderr)
    return 2


def _console(protocol: str) -> Any:
    """The console module of ``protocol`` (``CONSOLES``), or None."""
    module = CONSOLES.get(protocol)
    return None if module is None else importlib.import_module(module)


def _listen(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        return _error(f"--port: {args.port} (1..65535)")
    if args.count < 0:
        return _error(f"--count: {args.count} (0 = run until Ctrl-C)")
    console = _console(args.protocol)
    if console is None:
        return _error(f"--protocol {args.protocol}: no console for this protocol")
    try:
        return int(asyncio.run(console.listen(args)))
    except ValueError as exc:  # a bad option the console found
        return _error(str(exc))


def _receiver_from_args(args: argparse.Namespace) -> ArcConfig:
    """A one-receiver configuration from --host/--port/--account/--key/--format/--udp."""
    if args.port is None:
        raise ArcConfigError("give --config FILE, or --port (and --account) of a receiver")
    if args.account is None:
        raise ArcConfigError("--account: needed without --config")
    receiver: dict[str, Any] = {"name": "receiver", "host": args.host, "port": args.port,
                                "protocol": "udp" if args.udp else "tcp",
                                "format": args.format}
    if args.key:
        receiver["key"] = args.key.replace(" ", "").replace(":", "")
    return load_arc_config({"account": args.account, "receivers": [receiver],
                            "ack_timeout": args.timeout}, where="command line")


def hub_test_alarm(config_path: str | Path, *, as_json: bool, account: str | None = None) -> int:
    """``trygg hub test-alarm``: a test report to every receiver of the hub's ``[arc]``, with
    sequence numbers from the hub's own ARC outbox (shared safely with a running hub), so a
    test never reuses a number a real alarm carries. Raises ``ConfigError``."""
    cfg = hub_config.load(config_path)
    arc = cfg.arc_config()
    if arc is None:
        raise hub_config.ConfigError(f"{cfg.source}: no [arc] section: no receiver to test "
                                     "(README: Receiver configuration)")
    results = asyncio.run(run_test_alarm(arc, cfg.arc_outbox_path, account=account))
    return print_test_results(results, as_json=as_json)


def print_test_results(results: list[ArcTestResult], *, as_json: bool) -> int:
    """One line (or JSON object) per receiver: ACK or why not, and the round trip. Returns
    the exit code: 0 when every receiver acknowledged."""
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
    else:
        for r in results:
            rtt = f"{r.round_trip_ms:.1f} ms" if r.round_trip_ms is not None else "-"
            print(f"{r.receiver:<12} {r.protocol:<10} {r.address:<32} {r.wire_id:<16} "
                  f"{'OK ' if r.ok else 'FAIL'} {r.detail}  round trip {rtt}")
    return 0 if all(r.ok for r in results) else 1


def _test_alarm(args: argparse.Namespace) -> int:
    try:
        if args.config is not None:
            return hub_test_alarm(args.config, as_json=args.json, account=args.account)
        config = _receiver_from_args(args)
    except (ArcConfigError, hub_config.ConfigError) as exc:
        return _error(str(exc))
    results = asyncio.run(run_test_alarm(config, None, account=args.account))
    return print_test_results(results, as_json=args.json)


def _rotate(args: argparse.Namespace) -> int:
    """``requestnewauthentication``: the new password replaces the old in the receiver's
    authentication_file (0600); the old is kept as <file>.previous. Neither is printed."""
    from trygg.hub.arc.forwarder import open_link
    from trygg.hub.arc.protocols.sos_access import SosAccessError, SosAccessLink

    try:
        cfg = hub_config.load(args.config)
    except hub_config.ConfigError as exc:
        return _error(str(exc))
    if cfg.arc is None:
        return _error(f"{cfg.source}: no [arc] section")
    names = [r.name for r in cfg.arc.receivers]
    if args.receiver not in names:
        return _error(f"--receiver: {args.receiver!r} is not in {cfg.source} [arc] (receivers: "
                      f"{', '.join(names)})")
    link = open_link(cfg.arc, names.index(args.receiver))
    if not isinstance(link, SosAccessLink):
        return _error(f"--receiver: {args.receiver!r} speaks {link.config.protocol}; only SOS "
                      "Access rotates its password this way")

    async def rotate() -> str:
        try:
            return await link.request_new_authentication()
        finally:
            await link.close()

    try:
        result = asyncio.run(rotate())
    except (OSError, SosAccessError) as exc:
        return _error(f"{args.receiver}: the password was not changed: {exc}")
    print(f"{args.receiver}: {result}; the new password is in "
          f"{getattr(link.config, 'authentication_file', '?')} (the old one beside it, "
          ".previous, until the receiver has accepted the new one; should it refuse the new "
          "one, the hub goes back to the old one and logs it)")
    return 0
