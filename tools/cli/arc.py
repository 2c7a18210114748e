"""``trygg arc listen`` and ``trygg arc test-alarm``: check an alarm-centre link by hand.

``listen`` is a small SIA DC-09 receiver (pysiaalarm, an independent implementation) that
prints each event as an operator reads it. ``test-alarm`` sends one test report to every
receiver of a hub configuration (``--config``: exactly ``trygg hub test-alarm``) or to one
receiver given on the command line (before a hub is configured), and prints the
acknowledgement and round-trip time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

from trygg.hub import config as hub_config
from trygg.hub.arc import ArcConfig, ArcConfigError, ArcTestResult, load_arc_config, run_test_alarm
from trygg.tools.protocol.frame_cli import parse_hex
from trygg.tools.sim.arc_console import ArcConsole, ReceivedEvent


def register(sub: Any) -> None:
    p = sub.add_parser("arc", help="alarm receiving centre link: listen as a receiver, "
                       "send a test alarm")
    asub = p.add_subparsers(dest="arc_command", metavar="ACTION", required=True)

    listen = asub.add_parser("listen", help="run a SIA DC-09 receiver and print each event "
                             "in words")
    listen.add_argument("--port", type=int, required=True, help="port to listen on")
    listen.add_argument("--account", action="append", required=True,
                        help="account to accept (3-16 hex digits); repeat for more")
    listen.add_argument("--key", help="AES key as 32, 48 or 64 hex digits (encrypted link)")
    listen.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    listen.add_argument("--udp", action="store_true", help="listen on UDP instead of TCP")
    listen.add_argument("--count", type=int, default=0,
                        help="exit after this many events (default 0: run until Ctrl-C)")
    listen.add_argument("--hide-link-tests", action="store_true",
                        help="do not print NULL link tests")
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


def _error(message: str) -> int:
    print(f"trygg arc: {message}", file=sys.stderr)
    return 2


def _key(text: str | None) -> bytes | None:
    if text is None:
        return None
    key = parse_hex(text, "--key")
    if len(key) not in (16, 24, 32):
        raise ValueError(f"--key: {len(key)} bytes; an AES key is 16, 24 or 32 bytes "
                         "(32, 48 or 64 hex digits)")
    return key


def _listen(args: argparse.Namespace) -> int:
    try:
        key = _key(args.key)
        accounts = []
        for account in args.account:
            if not 3 <= len(account) <= 16 or any(c not in "0123456789abcdefABCDEF"
                                                  for c in account):
                raise ValueError(f"--account: {account!r} is not 3-16 hex digits")
            accounts.append((account.upper(), key))
    except ValueError as exc:
        return _error(str(exc))
    if not 1 <= args.port <= 65535:
        return _error(f"--port: {args.port} (1..65535)")
    return asyncio.run(_listen_async(args, accounts))


async def _listen_async(args: argparse.Namespace,
                        accounts: list[tuple[str, bytes | None]]) -> int:
    done = asyncio.Event()
    seen = 0

    def show(event: ReceivedEvent) -> None:
        nonlocal seen
        if event.is_link_test and args.hide_link_tests:
            return
        print(event.operator_line(), flush=True)
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    console = ArcConsole(args.port, accounts, host=args.host,
                         protocol="udp" if args.udp else "tcp", on_event=show)
    try:
        await console.start()
    except OSError as exc:
        return _error(f"cannot listen on {args.host}:{args.port}: {exc}")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    print(f"listening on {'udp' if args.udp else 'tcp'}://{args.host}:{args.port} for "
          f"account(s) {', '.join(a for a, _ in accounts)}"
          f"{' (AES)' if accounts[0][1] else ''}; Ctrl-C to stop", flush=True)
    try:
        await done.wait()
    finally:
        await console.stop()
    return 0


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
            print(f"{r.receiver:<12} {r.address:<32} sequence {r.sequence:04d}  "
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
