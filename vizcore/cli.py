"""Command-line interface: one sub-command per capability, JSON out with ``--json``.

Bad input exits with status 2 and a one-line ``error: ...`` on stderr, never a traceback.
Each command is registered with :func:`command`: an ``add`` function that declares its arguments and a
``run`` function returning plain data (printed as JSON) or ``None`` when it printed its own output.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np


class CLIError(Exception):
    """A user error to report in one line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


@dataclass(frozen=True)
class _Command:
    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]


COMMANDS: dict[str, _Command] = {}


def command(name: str, help: str, add: Callable[[argparse.ArgumentParser], None]):
    """Register ``run`` as sub-command ``name``; ``add`` declares its arguments."""

    def deco(run: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], Any]:
        COMMANDS[name] = _Command(help, add, run)
        return run

    return deco


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, numpy and torch values -> JSON-compatible Python."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "tolist") and type(obj).__module__.startswith("torch"):
        return obj.tolist()
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def print_json(obj: Any, *, lines: bool = False) -> None:
    text = json.dumps(to_jsonable(obj), separators=(",", ":") if lines else None, indent=None if lines else 2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def parse_shape(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224)."""
    try:
        dims = tuple(int(p) for p in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise CLIError(f"expected a shape like 3x224x224, got {text!r}") from None
    if not dims or any(d < 1 for d in dims):
        raise CLIError(f"expected positive dimensions like 3x224x224, got {text!r}")
    return dims


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = _Parser(prog="python -m vizcore", description="ConvScope compute core: JSON out with --json.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subs.required = True
    for name, cmd in sorted(COMMANDS.items()):
        sp = subs.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add(sp)
        sp.add_argument("--json", action="store_true", help="print JSON (default: the same JSON, indented)")
    return parser


def _load_commands() -> None:
    # Importing the command modules registers them; imports stay lazy so `--help` is quick.
    from vizcore import commands  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
