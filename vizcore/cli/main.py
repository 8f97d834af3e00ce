"""Command-line interface: one sub-command per capability, JSON out with ``--json``.

Every expected failure exits with status 2 and one line ``error: ...`` on stderr, never a traceback: bad
input (ValueError, TypeError), a run store that is not a database, locked or read-only (sqlite3 errors), file
system faults (permission denied, disk full, a folder where a file was expected: OSError, with the path),
and requests too large for memory (MemoryError). Standard output carries only the commands' JSON. Command
modules are imported here (registering themselves in :mod:`vizcore.cli.registry`); each imports torch only
inside its ``run`` function, so ``--help`` and ``outsize`` stay quick.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence

from vizcore.cli.registry import COMMANDS, JSON_OUT, CLIError, Parser, print_json


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
        sp = subs.add_parser(name, help=cmd.help.replace("%", "%%"), description=cmd.help)  # help is %-formatted, a description is not
        if only is None or only == name:
            cmd.add(sp)
        sp.add_argument("--json", action="store_true", help="print JSON (default: the same JSON, indented)")
    return parser


def _load_commands() -> None:
    # Importing the command modules registers them (once: Python caches modules).
    from vizcore.cli import (  # noqa: F401
        attack,
        cam,
        data,
        deformable,
        few_labels,
        first_classifiers,
        geometry,
        inspect_cmds,
        lab,
        models,
        playground,
        power,
        rf,
        scaling,
        trace,
        train,
    )


def describe_error(exc: BaseException) -> str:
    """One line for an expected failure: what went wrong and, for file faults, which path."""
    if isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        msg = f"{exc.strerror}: {where}" if where else exc.strerror
        if exc.filename2 is not None:
            msg += f" -> {exc.filename2}"
    elif isinstance(exc, MemoryError):
        msg = "out of memory: the request is too large for this machine; ask for a smaller one"
    elif isinstance(exc, sqlite3.Error):
        msg = f"the run store failed: {exc}"
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # standard error closed too: the exit status still says it
        pass


def _silence_stdout() -> None:
    """After standard output failed (closed pipe, full device), point it at /dev/null so the interpreter's final
    flush does not print a second error."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    _load_commands()
    parser = build_parser(chosen if chosen in COMMANDS else "")  # "" declares no command's arguments
    args = parser.parse_args(args_list)
    cmd = COMMANDS[args.command]
    JSON_OUT.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stray prints from libraries must not break --json
            from vizcore.cli import weights_arg

            weights_arg.apply_own(args)  # --model spec:FILE / --classes FILE with --weights FILE: a private entry
            result = cmd.run(args)
        if result is not None:
            print_json(result)
    except KeyboardInterrupt:
        _stderr_line("error: interrupted")
        return 130
    except (CLIError, ValueError, TypeError, KeyError, RuntimeError, OSError, MemoryError, ArithmeticError,
            sqlite3.Error) as exc:
        if isinstance(exc, OSError) and exc.filename == "<stdout>":
            _silence_stdout()
            _stderr_line(f"error: cannot write the output: {exc.strerror or exc}")
            return 2
        _stderr_line(f"error: {describe_error(exc)}")
        return 2
    finally:
        JSON_OUT.pop()
    return 0

