"""CLI: ``trace`` (one unit's convolution on the network's real numbers) and ``overview`` (one image through every
layer or stage, ending in the class probabilities).

``python -m vizcore trace --model small_cnn --weights trained --image chelsea --node features.0 --channel 3
--unit 0,0 --json`` prints the input patch (C_in, k, k) with its zero padding, the kernel, the bias, their sum
(the pre-activation), the layer's own output, the activation after the layer's non-linearity, the pooling that
follows and the unit's receptive field on the image.
"""
from __future__ import annotations

import argparse
from typing import Any

from vizcore.cli import weights_arg
from vizcore.cli.registry import CLIError, command


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="small_cnn", help="zoo model name (default small_cnn)")
    p.add_argument("--weights", default="random", help=f"{weights_arg.HELP} (default random)")
    p.add_argument("--image", default="chelsea", help="sample photo name or image file path (default chelsea)")


def _add_trace(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--node", required=True, help="the convolution: module path (features.0) or fx node name")
    p.add_argument("--channel", type=int, required=True, help="output channel of the convolution")
    p.add_argument("--unit", required=True, help="ROW,COL of the unit in the convolution's output map")


def _unit(spec: str) -> tuple[int, int]:
    parts = spec.replace(" ", "").split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise CLIError(f"expected --unit as ROW,COL (two whole numbers), got {spec!r}") from None


def _prepared(name: str, weights: str) -> tuple[Any, Any, str, str]:
    """(model, its receptive-field table, the weights argument, a label saying where the weights come from)."""
    from vizcore.arch import receptive_field as rf
    from vizcore.models.registry import get_entry, list_models

    if name not in list_models():
        raise CLIError(f"expected --model as a zoo model (python -m vizcore models lists them), got {name!r}")
    model, arg, label = weights_arg.load(name, weights)
    table = rf.analyze(model, get_entry(name).input_size)
    return model, table, arg, label


@command("trace", "One unit of a convolution on real numbers: input patch (padding as zeros), kernel, bias, their "
         "sum, the layer's output, the activation and pooling after it, the unit's field on the image.", _add_trace)
def run_trace(args: argparse.Namespace) -> dict:
    from vizcore.cli.inspect_cmds import _input
    from vizcore.inspect import conv_trace

    unit = _unit(args.unit)
    model, table, _, label = _prepared(args.model, args.weights)
    x = _input(args.model, args.image)
    tr = conv_trace.trace_unit(model, table, x, args.node, args.channel, unit)
    return {"model": args.model, "weights": label, "image": args.image, **tr.to_dict()}


def _add_overview(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--mode", choices=["layers", "stages"], help="every layer or one column per stage (default: "
                                                                  "layers for small networks, stages for big ones)")
    p.add_argument("--channels", type=int, default=4, help="strongest channels listed per column (1..16, default 4)")
    p.add_argument("--top", type=int, default=5, help="most probable classes listed (default 5)")


@command("overview", "One image through the network: each layer's (or stage's) output shape and strongest channels, "
         "then the most probable classes.", _add_overview)
def run_overview(args: argparse.Namespace) -> dict:
    from vizcore.cli.inspect_cmds import _input
    from vizcore.inspect import overview
    from vizcore.models.weights import class_names

    if not 1 <= args.top <= 1000:
        raise CLIError(f"expected --top between 1 and 1000, got {args.top}")
    model, table, weights, label = _prepared(args.model, args.weights)
    x = _input(args.model, args.image)
    ov = overview.run_overview(model, table, x, args.mode, args.channels)
    names = class_names(args.model, weights, 0 if ov.probabilities is None else len(ov.probabilities))
    ov = overview.Overview(ov.mode, ov.columns, ov.probabilities, tuple(names))
    return {"model": args.model, "weights": label, "image": args.image, "mode": ov.mode,
            "columns": [{"node": c.node, "layer": c.label, "op": c.op, "shape": list(c.shape),
                         "field": list(c.field.size), "stride": list(c.field.stride),
                         "strongest_channels": [{"channel": ch, "mean": float(m.mean()), "max": float(m.max())}
                                                for ch, m in zip(c.channels, c.maps, strict=True)]}
                        for c in ov.columns],
            "top": [{"class": n, "probability": p} for n, p in ov.top(args.top)]}
