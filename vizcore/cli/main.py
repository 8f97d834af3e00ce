"""Command-line interface: one sub-command per capability, JSON out with ``--json``.

Bad input exits with status 2 and a one-line ``error: ...`` on stderr, never a traceback. Command modules are
imported here (registering themselves in :mod:`vizcore.cli.registry`); each imports torch only inside its
``run`` function, so ``--help`` and ``outsize`` stay quick.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vizcore.cli.registry import COMMANDS, CLIError, Parser, print_json


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only``, just that command's arguments are declared (others list their help line).

    Declaring a command's arguments may import torch (``train`` reads TrainConfig's field help), so ``--help``
    and a quick command such as ``outsize`` declare only what they need.
    """
    _load_commands()
    parser = Parser(prog="python -m vizcore", description="ConvScope compute core: JSON out with --json.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subs.required = True
    for name, cmd in sorted(COMMANDS.items()):
        sp = subs.add_parser(name, help=cmd.help, description=cmd.help)
        if only is None or only == name:
            cmd.add(sp)
        sp.add_argument("--json", action="store_true", help="print JSON (default: the same JSON, indented)")
    return parser


def _load_commands() -> None:
    # Importing the command modules registers them (once: Python caches modules).
    from vizcore.cli import data, geometry, inspect_cmds, lab, models, rf, train  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    _load_commands()
    parser = build_parser(chosen if chosen in COMMANDS else "")  # "" declares no command's arguments
    args = parser.parse_args(args_list)
    cmd = COMMANDS[args.command]
    try:
        result = cmd.run(args)
    except (CLIError, ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write(f"error: {' '.join(str(msg).split())}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    if result is not None:
        print_json(result)
    return 0
