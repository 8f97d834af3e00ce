"""CLI: `outsize` (conv arithmetic) and `summary` (per-layer table of a zoo model or a custom spec)."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from vizcore.cli.registry import CLIError, command, parse_shape

MAX_SPEC_BYTES = 64_000  # a spec holds at most 200 layer lines: far below this


def _padding(text: str) -> int | str:
    if text in ("same", "valid"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'same' or 'valid', got {text!r}") from None


def _add_outsize(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="input size: N or HxW")
    p.add_argument("--kernel", type=int, required=True)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--padding", type=_padding, default=0, help="pixels, 'same' or 'valid'")
    p.add_argument("--dilation", type=int, default=1)
    p.add_argument("--kind", choices=["conv", "pool", "transposed"], default="conv")
    p.add_argument("--pool", choices=["max", "avg"], default="max", help="pooling mode (with --kind pool)")
    p.add_argument("--ceil-mode", action="store_true", help="pooling: round the output size up")
    p.add_argument("--output-padding", type=int, default=0, help="transposed conv only")
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--out-channels", type=int, default=16)
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--no-bias", action="store_true")
    p.add_argument("--batch", type=int, default=1, help="instances per batch, for the batch's output memory")
    p.add_argument("--separable", action="store_true",
                   help="also compare with the depthwise-separable form (a convolution with groups 1)")


@command("outsize", "Output size, filled-in formula, parameters, multiply-adds and warnings of one layer.", _add_outsize)
def outsize(args: argparse.Namespace) -> dict:
    from vizcore.arch import fixes
    from vizcore.arch.geometry import ConvGeometry, explain

    dims = parse_shape(args.input)
    if len(dims) not in (1, 2):
        raise CLIError(f"expected --input N or HxW, got {args.input!r}")
    h, w = (dims[0], dims[0]) if len(dims) == 1 else dims
    try:
        g = ConvGeometry(h, w, args.kernel, args.stride, args.padding, args.dilation, args.kind, args.pool,
                         args.ceil_mode, args.output_padding, args.in_channels, args.out_channels, args.groups,
                         not args.no_bias)
        e = explain(g, max_windows=1)
    except ValueError as exc:  # impossible settings: the reason, then what would work
        hints = fixes.what_would_work(args.kind, min(h, w), args.kernel, args.stride, args.padding, args.dilation,
                                      args.in_channels, args.out_channels, args.groups, args.output_padding)
        raise CLIError(str(exc) + (f"; what would work: {' '.join(hints)}" if hints else "")) from None
    if not 1 <= args.batch <= 1_000_000:
        raise CLIError(f"expected --batch between 1 and 1000000, got {args.batch}")
    out = asdict(e)
    out.pop("windows")
    out["output"] = [e.out_channels, e.out_height, e.out_width]
    out["batch"] = args.batch
    out["batch_output_bytes"] = args.batch * e.output_bytes
    out["settings"] = asdict(g)
    if args.separable:
        if args.kind != "conv" or args.groups != 1:
            raise CLIError(f"expected --separable with a convolution of groups 1, got --kind {args.kind} --groups "
                           f"{args.groups}")
        from vizcore.arch.geometry import separable_cost

        out["separable"] = asdict(separable_cost(args.in_channels, args.out_channels, args.kernel, e.out_height,
                                                 e.out_width))
    return out


def _add_summary(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="zoo model name (see `models`)")
    src.add_argument("--spec", help="custom stack: a spec file, or '-' for standard input")
    p.add_argument("--input", help="input shape CxHxW (default: the model's own)")
    p.add_argument("--batch", type=int, default=32, help="images per training step, for the memory estimate")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="momentum",
                   help="optimizer state kept per parameter: none, one momentum buffer, two moments")


@command("summary", "Per-layer table (shapes, parameters, multiply-adds) of a zoo model or custom spec.", _add_summary)
def summary(args: argparse.Namespace) -> dict:
    import sys

    from vizcore.arch import spec
    from vizcore.arch.summary import summarize
    from vizcore.models import registry as zoo

    device = "cpu"
    if args.model is not None:
        entry = zoo.get_entry(args.model)
        model = zoo.build_for_shapes(args.model)  # shapes and counts need no weights
        device = "meta" if next(model.parameters()).is_meta else "cpu"
        shape: tuple[int, ...] = entry.input_size
        name = args.model
    else:
        if args.spec == "-":
            text = sys.stdin.read(MAX_SPEC_BYTES + 1)
            if len(text) > MAX_SPEC_BYTES:
                raise CLIError(f"expected a spec of at most {MAX_SPEC_BYTES // 1000} KB on standard input, got more")
        else:
            from vizcore.core.io import read_text_capped

            text = read_text_capped(Path(args.spec), MAX_SPEC_BYTES, "spec file")
        built = spec.build(text)
        model, shape, name = built.model, built.input_shape, "custom"
    if args.input:
        shape = parse_shape(args.input)
    s = summarize(model, shape, device=device)
    from vizcore.arch.memory import training_memory

    try:
        mem = training_memory(s.activation_bytes, s.total_params, s.trainable_params, args.batch, args.optimizer)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return {
        "model": name,
        "input": list(s.input_shape),
        "output": list(s.output_shape),
        "layers": s.to_rows(),
        "totals": {"params": s.total_params, "trainable_params": s.trainable_params, "macs": s.total_macs,
                   "flops": 2 * s.total_macs, "activation_bytes": s.activation_bytes},
        "activation_bytes": s.activation_bytes,
        "training_memory": asdict(mem),
        "stages": s.stages,
    }
