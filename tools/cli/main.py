"""The ``trygg`` command: one entry point for technicians, developers and the hub.

Each part of the system registers its own subcommands from its own module
(``register(subparsers)``); this file only wires them together, so adding a
command never means editing another part's code.
"""

import argparse
import sys
from collections.abc import Sequence

from trygg.tools.bench import cli as bench
from trygg.tools.cli import arc as arc_cli
from trygg.tools.cli import hub as hub_cli
from trygg.tools.device import flash, provision, walktest
from trygg.tools.protocol import frame_cli
from trygg.tools.sim import demo
from trygg.tools.sim import pty as sim_pty

# Modules with a ``register(subparsers)`` function, in the order --help lists them.
_COMMAND_MODULES = (demo, hub_cli, arc_cli, flash, provision, walktest, sim_pty, frame_cli,
                    bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trygg",
        description="Trygg: home welfare technology edge system (hub, devices, tools).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
