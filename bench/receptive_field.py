"""Benchmark: analytic receptive fields of ResNet-50 (every node) against the gradient measurement.

    python bench/receptive_field.py [--model resnet50] [--nodes 8] [--repeat 3]

Analytic: trace + shape propagation + the Distill recurrences for all nodes of the model at its input size.
Peer, measured in the same run: the gradient method (positive-path copy, one backward pass per node) for a
handful of nodes, reported per node and extrapolated to all nodes. Prints times and the ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vizcore.arch import receptive_field as rf
from vizcore.arch import rf_measured  # noqa: E402
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--nodes", type=int, default=8, help="nodes measured by gradient (spread through the net)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    entry = zoo.get_entry(args.model)
    model = mweights.get_model(args.model)  # real weights: the gradient peer runs the model's own modules

    analytic = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        table = rf.analyze(model, entry.input_size)
        analytic.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rf.zoo_fields(args.model)
    meta_build_and_analyze = time.perf_counter() - t0

    spatial = [n for n in table.nodes if n.spatial]
    picks = [spatial[round(i * (len(spatial) - 1) / max(1, args.nodes - 1))] for i in range(args.nodes)]
    grad_times = []
    for nf in picks:
        h, w = nf.map_size
        t0 = time.perf_counter()
        box = rf_measured.gradient_extent(table, nf.node, (h // 2, w // 2))
        grad_times.append(time.perf_counter() - t0)
        assert box == nf.unit_box(h // 2, w // 2, entry.input_size[1:]).clipped, nf.node

    a = statistics.median(analytic)
    per_node = statistics.mean(grad_times)
    all_nodes = per_node * len(table.nodes)
    print(f"model {args.model} at {entry.input_size}, {len(table.nodes)} nodes, torch threads {args.threads}")
    print(f"analytic, all nodes (trace + meta shapes + recurrences): median {a * 1e3:.1f} ms over {args.repeat}")
    print(f"analytic incl. building the model on the meta device:    {meta_build_and_analyze * 1e3:.1f} ms")
    print(f"gradient method: {per_node * 1e3:.1f} ms per node (mean of {len(picks)}, all agree with analytic)")
    print(f"gradient method extrapolated to all {len(table.nodes)} nodes: {all_nodes:.2f} s")
    print(f"ratio gradient(all nodes) / analytic(all nodes): {all_nodes / a:.0f}x;"
          f" one gradient node / analytic all nodes: {per_node / a:.2f}x")


if __name__ == "__main__":
    main()
