"""`models`: list the zoo."""
from __future__ import annotations

import argparse

from vizcore.cli.registry import command


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tag", help="only models with this tag (small, se, branching, depthwise)")


@command("models", "List the architectures in the zoo with input size, classes and weight sources.", _add)
def run(args: argparse.Namespace) -> list[dict]:
    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights

    out = []
    for name in zoo.list_models(args.tag):
        e = zoo.get_entry(name)
        out.append({
            "name": e.name, "title": e.title, "family": e.family, "input_size": list(e.input_size),
            "num_classes": e.num_classes, "source": e.source, "pretrained": e.has_pretrained,
            "pretrained_cached": mweights.pretrained_available(name), "cam_layer": e.cam_layer,
            "tags": list(e.tags), "paper": e.paper,
        })
    return out
