"""Looking inside a model from the command line: ``filters``, ``activations``, ``top-patches``, ``se``.

``python -m vizcore activations --model resnet18 --node layer1 --image chelsea --json`` prints the node's
output shape and per-channel statistics; ``se --model se_resnet_small --weights trained --by-class`` redoes
the SENet per-class analysis (Hu et al., TPAMI 2019, §7.2).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vizcore.cli import weights_arg
from vizcore.cli.registry import CLIError, command


def _add_model(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--model", default=default, help=f"zoo model name (default {default})")
    p.add_argument("--weights", default="random", help=f"{weights_arg.HELP} (default random)")


def _image(spec: str):
    from vizcore.data import images as image_io

    photos = image_io.sample_photos()
    if spec in photos:
        return photos[spec]
    p = Path(spec)
    if not p.is_file():
        raise CLIError(f"expected --image as a sample photo ({', '.join(photos)}) or an image file, got {spec!r}")
    from vizcore.core.io import read_capped

    return image_io.decode_image(read_capped(p, image_io.MAX_FILE_BYTES, "image file"))


def _input(name: str, spec: str):
    from vizcore.models import preprocess
    from vizcore.models.registry import get_entry

    return preprocess.for_model(name).image(_image(spec), get_entry(name).input_size[1])


# ---------------------------------------------------------------------------------------- filters


def _add_filters(p: argparse.ArgumentParser) -> None:
    _add_model(p, "small_cnn")
    p.add_argument("--layer", help="conv module path (default: the first convolution)")


@command("filters", "Conv filters of one layer: shape, per-filter norms, dead and duplicate filters, scales.",
         _add_filters)
def run_filters(args: argparse.Namespace) -> dict:
    from vizcore.inspect import filters

    model, _, source = weights_arg.load(args.model, args.weights)
    layer = args.layer or filters.conv_layers(model)[0]
    w = filters.conv_weight(model, layer)
    st = filters.filter_stats(w)
    out: dict[str, Any] = {"model": args.model, "weights": source, "layer": layer, "shape": list(w.shape), **st.to_dict()}
    if w.shape[1] in (1, 3):
        grid = filters.rgb_filters(w)
        out["scales"] = [[float(lo), float(hi)] for lo, hi in zip(grid.low, grid.high, strict=True)]
    return out


# ---------------------------------------------------------------------------------------- activations


def _add_acts(p: argparse.ArgumentParser) -> None:
    _add_model(p, "resnet18")
    p.add_argument("--node", required=True, help="fx node name, layer path or block (e.g. layer1)")
    p.add_argument("--image", default="chelsea", help="sample photo name or image file path (default chelsea)")


@command("activations", "A node's output for one image: shape (C, H, W) and per-channel mean, max, zero fraction.",
         _add_acts)
def run_activations(args: argparse.Namespace) -> dict:
    from vizcore.arch import receptive_field as rf
    from vizcore.inspect import activations, capture
    from vizcore.models.registry import get_entry

    model, _, source = weights_arg.load(args.model, args.weights)
    table = rf.analyze(model, get_entry(args.model).input_size)
    nf = table.resolve(args.node)
    if not nf.spatial:
        raise CLIError(f"expected a node with a spatial map, got {nf.node} with shape {list(nf.out_shape)}")
    assert table.graph is not None
    act = capture.node_output(table.graph, nf.node, _input(args.model, args.image))[0]
    st = activations.channel_stats(act)
    return {"model": args.model, "weights": source, "node": nf.node, "module": nf.module, "shape": list(act.shape),
            "channels": [{"channel": c, "mean": float(st["mean"][c]), "max": float(st["max"][c]),
                          "zero_fraction": float(st["zero_fraction"][c])} for c in range(act.shape[0])]}


# ---------------------------------------------------------------------------------------- top patches


def _add_top(p: argparse.ArgumentParser) -> None:
    _add_model(p, "small_cnn")
    p.add_argument("--node", required=True, help="fx node name, layer path or block")
    p.add_argument("--channel", type=int, required=True, help="channel of the node")
    p.add_argument("--dataset", default="shapes", help="shapes | digits | photos | folder (default shapes)")
    p.add_argument("--root", help="image folder for --dataset folder")
    p.add_argument("--n", type=int, default=500, help="images searched (default 500, at most 20000)")
    p.add_argument("--k", type=int, default=9, help="top units (default 9, at most 64)")


@command("top-patches", "The k units of a channel with the highest activation over a data set, with their input box.",
         _add_top)
def run_top(args: argparse.Namespace) -> dict:
    from vizcore.arch import receptive_field as rf
    from vizcore.inspect import capture, top_patches
    from vizcore.models import preprocess
    from vizcore.models.registry import get_entry

    model, _, source = weights_arg.load(args.model, args.weights)
    size = get_entry(args.model).input_size
    table = rf.analyze(model, size)
    nf = table.resolve(args.node)
    assert table.graph is not None
    images = top_patches.load_images(args.dataset, args.n, size[1], root=args.root)
    top = top_patches.top_units(capture.NodeRunner(table.graph, nf.node), images, k=args.k,
                                prepare=preprocess.for_model(args.model).batch)
    recs = top.channel(args.channel)
    for r in recs:
        ub = nf.unit_box(r["unit"][0], r["unit"][1], (size[1], size[2]))  # type: ignore[index]
        r["box"], r["clipped"] = list(ub.box), list(ub.clipped)
    return {"model": args.model, "weights": source, "node": nf.node, "channel": args.channel,
            "dataset": args.dataset, "images": top.n_images, "field": list(nf.size), "top": recs}


# ---------------------------------------------------------------------------------------- SE


def _add_se(p: argparse.ArgumentParser) -> None:
    _add_model(p, "efficientnet_b0")
    p.add_argument("--image", default="chelsea", help="sample photo name or image file path (default chelsea)")
    p.add_argument("--by-class", action="store_true", help="per-class analysis over --dataset (Hu et al. §7.2)")
    p.add_argument("--dataset", default="shapes", help="labelled data set for --by-class / --ablate (default shapes)")
    p.add_argument("--n", type=int, default=20, help="images per class (default 20, at most 200)")
    p.add_argument("--ablate", action="append", metavar="BLOCK", help="SE block path whose gates become 1 "
                                                                      "(repeatable); prints the accuracy change")
    p.add_argument("--mode", choices=["one", "mean"], default="one", help="ablated gates: 1 or the data-set mean")


@command("se", "Excitation vector of every SE block for an image; --by-class analysis; --ablate accuracy change.",
         _add_se)
def run_se(args: argparse.Namespace) -> Any:
    from vizcore.inspect import se
    from vizcore.inspect.top_patches import load_labelled
    from vizcore.models import preprocess
    from vizcore.models.registry import get_entry

    model, _, source = weights_arg.load(args.model, args.weights)
    if not 1 <= args.n <= 200:
        raise CLIError(f"expected --n between 1 and 200 images per class, got {args.n}")
    info = {b.path: b for b in se.blocks(model)}
    if not (args.by_class or args.ablate):
        ex = se.excitations(model, _input(args.model, args.image))
        return [{"block": p, "channels": info[p].channels, "squeeze": info[p].squeeze, "gate": info[p].gate,
                 "excitation": [round(float(v), 5) for v in g[0]]} for p, g in ex.gates.items()]
    size = get_entry(args.model).input_size[1]
    ds = load_labelled(args.dataset, args.n, size)
    prep = preprocess.for_model(args.model).batch
    analysis, means = se.by_class(model, ds.images, ds.labels, ds.classes, prep)
    out: dict[str, Any] = {"model": args.model, "weights": source, "dataset": args.dataset, "images": len(ds.labels)}
    ex_last = [a.path for a in analysis if a is analysis[-1] or analysis[analysis.index(a) + 1].stage != a.stage]
    out["blocks"] = [{**a.to_dict(), "last_of_stage": a.path in ex_last} for a in analysis]
    out["summary"] = se.describe(analysis, ex_last, untrained=args.weights == "random")
    if args.ablate:
        missing = [b for b in args.ablate if b not in info]
        if missing:
            raise CLIError(f"expected SE block paths ({', '.join(list(info)[:4])}, ...), got {missing[0]!r}")
        x = prep(ds.images)
        base = se.predict(model, x).argmax(1)
        abl = se.predict(model, x, se.ablation(args.ablate, args.mode, means)).argmax(1)
        out["ablation"] = {"blocks": args.ablate, "mode": args.mode,
                           "accuracy": float((base == ds.labels).double().mean()),
                           "accuracy_ablated": float((abl == ds.labels).double().mean()),
                           "predictions_changed": int((base != abl).sum())}
    return out
