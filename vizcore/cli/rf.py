"""`rf`: receptive field of every node of a zoo model (size, stride, effective padding per axis)."""
from __future__ import annotations

import argparse

from vizcore.cli import weights_arg
from vizcore.cli.registry import CLIError, command, parse_shape


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="zoo model name (see `python -m vizcore models`)")
    p.add_argument("--node", help="one node: fx name (layer4_1_relu_1), layer path (features.28) or block (layer4)")
    p.add_argument("--unit", help="i,j: add that unit's input box (before/after clipping) and centre; needs --node")
    p.add_argument("--input-size", help="CxHxW instead of the model's own input size, e.g. 3x96x96")
    p.add_argument("--weights", default="random",
                   help=f"{weights_arg.HELP} (default random; only --erf depends on them)")
    p.add_argument("--erf", action="store_true", help="add the effective receptive field summary of the unit "
                                                      "(Luo et al. 2016; needs --node)")
    p.add_argument("--erf-inputs", type=int, default=4, help="random inputs averaged for --erf (default 4)")


def _parse_unit(text: str) -> tuple[int, int]:
    try:
        i, j = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise CLIError(f"expected --unit as two integers i,j, got {text!r}") from None
    return i, j


@command("rf", "Receptive field (size, stride, effective padding per axis) of every node, in execution order.", _add)
def run(args: argparse.Namespace) -> list[dict] | dict:
    from vizcore.arch import receptive_field as rf
    from vizcore.arch import rf_measured
    from vizcore.models import registry as zoo

    entry = zoo.get_entry(args.model)
    size = parse_shape(args.input_size) if args.input_size else entry.input_size
    if len(size) != 3:
        raise CLIError(f"expected --input-size as CxHxW, got {args.input_size!r}")
    if (args.unit or args.erf) and not args.node:
        raise CLIError("expected --node together with --unit or --erf, got no --node")
    if args.erf:  # the effective field needs the weights; the geometry alone does not
        table = rf.analyze(weights_arg.load(args.model, args.weights)[0], size)
    else:
        table = rf.zoo_fields(args.model, size)
    if not args.node:
        return table.records()
    nf = table.resolve(args.node)
    rec = nf.record()
    unit = _parse_unit(args.unit) if args.unit else None
    if unit is not None:
        rec.update(nf.unit_box(unit[0], unit[1], (size[1], size[2])).to_dict())
    if args.erf:
        rec["erf"] = rf_measured.effective_field(table, nf.node, unit, n_random=args.erf_inputs).summary()
    return rec
