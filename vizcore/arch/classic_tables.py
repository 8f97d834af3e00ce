"""The classic papers' layer tables from per-layer summaries: LeNet-5 as Fig. 2 names its layers (LeCun et al.,
1998) and AlexNet's widths in the paper (Krizhevsky et al., 2012, Fig. 2) against torchvision's.

Rows are plain dicts (one type per column) built from :meth:`vizcore.arch.summary.ModelSummary.to_rows` rows of the
zoo entries ``lenet5_paper``, ``alexnet_paper``, ``alexnet_paper_grouped`` and ``alexnet``.
"""
from __future__ import annotations

LENET_LAYERS = (("C1", "features.0"), ("S2", "features.2"), ("C3", "features.4."), ("S4", "features.6"),
                ("C5", "features.8"), ("F6", "f6.1"), ("output (RBF)", "output"))


def _shape(v: object) -> str:
    return "×".join(str(x) for x in v) if isinstance(v, (list, tuple)) else ""


def lenet_paper_rows(rows: list[dict]) -> list[dict]:
    """One row per layer of Fig. 2 (C3's sixteen partial convolutions summed into one): output, maps,
    trainable parameters, multiply-adds."""
    out = []
    for label, name in LENET_LAYERS:
        mine = [r for r in rows if (r["name"].startswith(name) if name.endswith(".") else r["name"] == name)]
        if not mine:
            raise ValueError(f"expected LeNet-5's layer {name!r} in the summary, got none")
        shape = mine[0]["out_shape"] if label != "C3" else (len(mine), *mine[0]["out_shape"][1:])
        out.append({"layer": label, "type": "PartialConv (Table I)" if label == "C3" else mine[0]["type"],
                    "output": _shape(shape), "maps": int(shape[0]), "params": sum(r["params"] for r in mine),
                    "MACs": sum(r["macs"] for r in mine)})
    return out


def alexnet_width_rows(paper: list[dict], grouped: list[dict], tv: list[dict]) -> list[dict]:
    """conv1–conv5 and fc6–fc8: maps and parameters in the paper (one stream and two GPUs) and in torchvision."""
    def layers(rows: list[dict]) -> list[dict]:
        return [r for r in rows if r["type"] in ("Conv2d", "Linear")]

    p, g, t = layers(paper), layers(grouped), layers(tv)
    if not len(p) == len(g) == len(t) == 8:
        raise ValueError(f"expected 5 convs and 3 fully connected layers in each AlexNet, got {len(p)}, {len(g)}, "
                         f"{len(t)}")
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    return [{"layer": n, "maps (paper)": int(a["out_shape"][0]), "maps (torchvision)": int(c["out_shape"][0]),
             "groups (two GPUs)": str(b["groups"] or ""), "params (paper, one stream)": a["params"],
             "params (paper, two GPUs)": b["params"], "params (torchvision)": c["params"]}
            for n, a, b, c in zip(names, p, g, t)]
