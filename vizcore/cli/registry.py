"""The command registry: a leaf module every command module imports (it imports none of them).

Each command is registered with :func:`command`: an ``add`` function that declares its arguments and a
``run`` function returning plain data (printed as JSON) or ``None`` when it printed its own output.
"""
from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

MAX_CONFIG_BYTES = 1_000_000  # the largest config file a command reads (a TrainConfig with a pipeline is a few KB)


class CLIError(Exception):
    """A user error to report in one line (exit 2)."""


class Parser(argparse.ArgumentParser):
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
        if name in COMMANDS:
            raise ValueError(f"expected a new command name, got duplicate {name!r}")
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
    # numpy arrays and scalars, torch tensors: checked by module so this file imports neither
    if hasattr(obj, "tolist") and type(obj).__module__.split(".")[0] in ("numpy", "torch"):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


# Where JSON goes: the real standard output, set by main() while it sends everything else that library code
# prints (download notices, progress) to standard error, so ``--json`` output is only JSON.
JSON_OUT: list[Any] = []


def print_json(obj: Any, *, lines: bool = False) -> None:
    text = json.dumps(to_jsonable(obj), separators=(",", ":") if lines else None, indent=None if lines else 2)
    out = JSON_OUT[-1] if JSON_OUT else sys.stdout
    if out is None:  # started with standard output closed (`>&-`)
        raise OSError(errno.EBADF, "standard output is closed", "<stdout>")
    try:
        out.write(text + "\n")
        out.flush()
    except OSError as exc:  # a closed pipe or a full device: say it was the output, not some input file
        raise OSError(exc.errno, exc.strerror or str(exc), "<stdout>") from None


def parse_shape(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224)."""
    try:
        dims = tuple(int(p) for p in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise CLIError(f"expected a shape like 3x224x224, got {text!r}") from None
    if not dims or any(d < 1 for d in dims):
        raise CLIError(f"expected positive dimensions like 3x224x224, got {text!r}")
    return dims
