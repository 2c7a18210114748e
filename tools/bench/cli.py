"""``trygg bench <part>``: benchmarks that print figures and one JSON line.

Benchmarks measure; tests assert behaviour. Each benchmark prints a readable
table and, last, one line of JSON (``{"bench": ..., ...}``) to quote in notes
and compare between runs. On a shared, noisy machine compare ratios taken in
one run rather than absolute figures from different runs.
"""

import argparse
import sys
from collections.abc import Callable
from typing import Any


def count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (argparse names the option)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _probability(text: str) -> float:
    """An argparse type: a probability from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is outside 0..1")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its figures and a JSON line")
    bsub = p.add_subparsers(dest="bench_command", metavar="PART", required=True)
    proto = bsub.add_parser("protocol", help="frame sizes, MicroPython seal time, "
                            "CPython open+verify+decode rate")
    proto.add_argument("--seconds", type=float, default=2.0,
                       help="duration of each CPython measurement (default 2)")
    proto.add_argument("--frames", type=count(1, 1_000_000), default=2000,
                       help="frames sealed per kind inside MicroPython (default 2000)")
    proto.set_defaults(func=_protocol)
    fw = bsub.add_parser("firmware", help="per role on simulated boards: heap after boot, "
                         "stimulus-to-broker latency, frame sizes")
    fw.add_argument("--events", type=count(2, 10_000), default=100,
                    help="stimuli per role for the latency figures (default 100)")
    fw.set_defaults(func=_firmware)
    energy = bsub.add_parser("energy", help="battery roles on simulated boards through the "
                             "ESP-NOW bridge: awake time per wake, mAh a day, years on a cell")
    energy.add_argument("--events", type=count(1, 1000), default=5,
                        help="stimuli per role (default 5)")
    energy.add_argument("--boot-ms", type=float, default=300.0,
                        help="start from deep sleep to running firmware on the ESP32, measured "
                        "on a real board (default 300, an assumption)")
    energy.set_defaults(func=_energy)
    hub = bsub.add_parser("hub", help="hub ingest rate vs a bare subscriber, ack latency, "
                          "rules replay rate over a resident-year")
    hub.add_argument("--devices", type=count(1, 1000), default=10,
                     help="simulated devices (default 10)")
    hub.add_argument("--frames", type=count(2, 100_000), default=1000,
                     help="frames per device (default 1000)")
    hub.add_argument("--rounds", type=count(1, 20), default=3,
                     help="rounds of the receivers, the ratio their median (default 3)")
    hub.set_defaults(func=_hub)
    arc = bsub.add_parser("arc", help="ARC link: raised-to-ACK latency p50/p99, drain time of "
                          "a queued burst after a receiver outage")
    arc.add_argument("--count", type=count(2, 100_000), default=300,
                     help="alarms timed one by one, plain and AES each (default 300)")
    arc.add_argument("--burst", type=count(1, 1_000_000), default=1000,
                     help="alarms queued during the outage (default 1000)")
    arc.add_argument("--protocol", action="append", default=[],
                     help="measure only this one (dc09-plain, dc09-aes128, sos-access, "
                     "scaip-udp, scaip-tcp); repeat for more (default: all)")
    arc.set_defaults(func=_arc)
    e2e = bsub.add_parser("e2e", help="stimulus on a firmware board to the alarm at the "
                          "centre, per centre protocol: p50/p99/max")
    e2e.add_argument("--trials", type=count(1, 10_000), default=100,
                     help="alarms (each with its restore) per protocol (default 100)")
    e2e.add_argument("--seconds", type=count(1, 3600), default=300,
                     help="at most this long per protocol, whatever --trials says (default "
                     "300)")
    e2e.add_argument("--protocol", action="append", default=[],
                     help="measure only this one (scaip, dc09, sos-access); repeat for more "
                     "(default: all)")
    e2e.set_defaults(func=_e2e)
    care = bsub.add_parser("care", help="false care alarms per resident-month on recordings of "
                           "daily life, share and delay of injected falls alarmed")
    care.add_argument("--quick", action="store_true",
                      help="a tiny run for CI: 2 synthetic profiles x 2 days, 1 fall per "
                      "moment, 2 days of each public recording")
    care.add_argument("--profiles", type=count(0, 1000), default=None,
                      help="synthetic residents (default 5: every profile once)")
    care.add_argument("--days", type=count(1, 365), default=None,
                      help="days per synthetic resident (default 30)")
    care.add_argument("--seed", type=count(0, 2**31 - 1), default=0,
                      help="seed of the synthetic residents (default 0)")
    care.add_argument("--falls", type=count(0, 1000), default=None, dest="falls",
                      help="falls injected per moment category and home (default 6)")
    care.add_argument("--datasets", metavar="DIR",
                      help="the public recordings (default ../shared/datasets beside the "
                      "repository)")
    care.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                      dest="settings", help="override every home's configuration, as "
                      "trygg hub replay --set (repeatable)")
    care.add_argument("--workers", type=count(1, 64), default=None,
                      help="processes (default: up to 2, one home each)")
    care.add_argument("--save", metavar="DIR", help="also write each home's recording into DIR "
                      "(to look at one with trygg hub replay; keep derived public recordings "
                      "out of the repository)")
    care.add_argument("--answer-awake", type=_probability, default=None, metavar="P",
                      help="probability the resident answers a check when awake at home "
                      "(default 0.9)")
    care.add_argument("--answer-asleep", type=_probability, default=None, metavar="P",
                      help="... when asleep (default 0.3); out of the home or fallen: never")
    care.add_argument("--no-compare", action="store_true",
                      help="skip the sensitivity and without-prompting runs (a third of the "
                      "time)")
    care.add_argument("--json", action="store_true", help="print only the JSON line")
    care.set_defaults(func=_care)


def _hub(args: argparse.Namespace) -> int:
    from trygg.tools.bench import hub as bench_hub

    return bench_hub.run(devices=args.devices, frames=args.frames, rounds=args.rounds)


def _protocol(args: argparse.Namespace) -> int:
    from trygg.tools.bench import protocol as bench_protocol

    return bench_protocol.run(seconds=args.seconds, frames=args.frames)


def _firmware(args: argparse.Namespace) -> int:
    from trygg.tools.bench import firmware as bench_firmware

    return bench_firmware.run(events=args.events)


def _energy(args: argparse.Namespace) -> int:
    from trygg.tools.bench import energy as bench_energy

    return bench_energy.run(events=args.events, boot_ms=args.boot_ms)


def _e2e(args: argparse.Namespace) -> int:
    from trygg.tools.bench import e2e as bench_e2e
    from trygg.tools.sim.centre import PROTOCOLS

    unknown = [p for p in args.protocol if p not in PROTOCOLS]
    if unknown:
        print(f"trygg bench e2e: --protocol {unknown[0]!r} (one of {', '.join(PROTOCOLS)})",
              file=sys.stderr)
        return 2
    return bench_e2e.run(trials=args.trials, seconds=float(args.seconds),
                         protocols=tuple(dict.fromkeys(args.protocol)) or PROTOCOLS)


def _care(args: argparse.Namespace) -> int:
    from . import care as bench_care

    quick = args.quick
    return bench_care.run(
        profiles=args.profiles if args.profiles is not None else (2 if quick else 5),
        days=args.days if args.days is not None else (2 if quick else 30),
        seed=args.seed,
        falls_per_category=args.falls if args.falls is not None else (
            1 if quick else bench_care.DEFAULT_FALLS_PER_CATEGORY),
        datasets=args.datasets, settings=args.settings, as_json=args.json,
        workers=args.workers, placelab_days=2 if quick else None, save_dir=args.save,
        answer_awake=bench_care.ANSWER_AWAKE if args.answer_awake is None
        else args.answer_awake,
        answer_asleep=bench_care.ANSWER_ASLEEP if args.answer_asleep is None
        else args.answer_asleep,
        compare=not args.no_compare)


def _arc(args: argparse.Namespace) -> int:
    from trygg.tools.bench import arc as bench_arc

    known = tuple(c.name for c in bench_arc.CENTRES)
    unknown = [p for p in args.protocol if p not in known]
    if unknown:
        print(f"trygg bench arc: --protocol {unknown[0]!r} (one of {', '.join(known)})",
              file=sys.stderr)
        return 2
    return bench_arc.run(count=args.count, burst=args.burst, protocols=tuple(args.protocol))
