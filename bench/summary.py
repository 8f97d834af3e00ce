"""Benchmark: vizcore's per-layer summary of ResNet-50 against torchinfo's `summary`, same model, same run.

    python bench/summary.py [--model resnet50] [--repeats 7]

Prints the median wall time of each and the ratio vizcore / torchinfo (< 1 means vizcore is faster).
Both do one forward pass with hooks on every layer; torchinfo is used here only as the peer.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vizcore.arch.summary import summarize  # noqa: E402
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights  # noqa: E402


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    try:
        import torchinfo
    except ImportError:
        sys.exit("error: torchinfo is the benchmark peer: pip install -r requirements-dev.txt")
    entry = zoo.get_entry(args.model)
    model = mweights.get_model(args.model)
    shape = entry.input_size
    # warm-up both (first forward allocates, first flop counter call imports)
    ours = summarize(model, shape)
    theirs = torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
    assert ours.total_params == theirs.total_params, (ours.total_params, theirs.total_params)
    t_ours = _median_time(lambda: summarize(model, shape), args.repeats)
    t_theirs = _median_time(lambda: torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu"),
                            args.repeats)
    print(f"model: {args.model}, input 1x{'x'.join(map(str, shape))}, torch threads: {torch.get_num_threads()}")
    print(f"vizcore.arch.summary.summarize : {t_ours * 1e3:8.1f} ms (median of {args.repeats})")
    print(f"torchinfo.summary         : {t_theirs * 1e3:8.1f} ms (median of {args.repeats})")
    print(f"params: vizcore {ours.total_params:,} / torchinfo {theirs.total_params:,}; "
          f"MACs: vizcore {ours.total_macs:,} / torchinfo {theirs.total_mult_adds:,}")
    print(f"ratio vizcore / torchinfo = {t_ours / t_theirs:.2f}")


if __name__ == "__main__":
    main()
