"""Benchmark: activation capture of one node against torchvision's feature extractor and a plain forward pass,
and the top-activating-patch search over the embedded shapes.

    python bench/activations.py [--repeat 15] [--threads 1] [--patches 2000]

Capture: ``vizcore.inspect.capture.capture(resnet18, ["layer1"], x)`` (forward hooks, forward stopped once layer1
has run) at 224×224, batch 1 and 8. Peers measured in the same run, interleaved: torchvision's
``create_feature_extractor(model, {"layer1": ...})`` (built once, outside the timing) and ``model(x)``. Prints
medians and the ratios. Then top patches (all channels of the default model's last conv block, k = 9) over
``--patches`` shapes images: images per second, on the CPU and, when present, on CUDA.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torchvision.models.feature_extraction import create_feature_extractor  # noqa: E402

from vizcore.arch import receptive_field as rf  # noqa: E402
from vizcore.inspect import capture, top_patches  # noqa: E402
from vizcore.models import preprocess  # noqa: E402
from vizcore.models import weights as mweights  # noqa: E402


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def capture_ratios(repeat: int) -> None:
    model = mweights.get_model("resnet18")
    extractor = create_feature_extractor(model, {"layer1": "layer1"}).eval()
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        runs: dict[str, list[float]] = {"capture": [], "feature extractor": [], "plain forward": []}
        calls = {"capture": lambda x=x: capture.capture(model, ["layer1"], x)["layer1"],
                 "feature extractor": lambda x=x: extractor(x)["layer1"], "plain forward": lambda x=x: model(x)}
        with torch.no_grad():
            torch.testing.assert_close(calls["capture"](), calls["feature extractor"]())
            for _ in range(2):  # warm-up
                for f in calls.values():
                    f()
            keys = list(calls)
            for r in range(repeat):
                # interleaved (load changes hit every contender alike), order rotated (no one always runs on the
                # caches the previous contender warmed)
                for k in keys[r % 3:] + keys[:r % 3]:
                    t0 = time.perf_counter()
                    calls[k]()
                    runs[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"resnet18 layer1, 224x224, batch {batch}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in med.items()))
        print(f"  ratio capture / feature extractor: {med['capture'] / med['feature extractor']:.3f}; "
              f"capture / plain forward: {med['capture'] / med['plain forward']:.3f}")


def patch_speed(n: int, dev: torch.device) -> None:
    from vizcore.lab.default_model import default_model

    model = mweights.load_trained(default_model()).to(dev)
    table = rf.analyze(model, (3, 32, 32))
    node = table.resolve("features").node
    images = top_patches.load_images("shapes", n, 32)
    prep = preprocess.for_model("small_cnn")
    runner = capture.NodeRunner(table.graph, node)
    top_patches.top_units(runner, images[:256], k=9, prepare=lambda b: prep.batch(b.to(dev)))  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    res = top_patches.top_units(runner, images, k=9, batch_size=256, prepare=lambda b: prep.batch(b.to(dev)))
    _sync(dev)
    dt = time.perf_counter() - t0
    print(f"top patches, small_cnn (trained) node {node} ({res.values.shape[0]} channels, k 9), {n} shapes images "
          f"on {dev.type}: {dt:.2f} s = {n / dt:,.0f} images/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    ap.add_argument("--patches", type=int, default=2000, help="shapes images searched for top patches")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {args.threads}, repeat {args.repeat}")
    capture_ratios(args.repeat)
    patch_speed(args.patches, torch.device("cpu"))
    if torch.cuda.is_available():
        patch_speed(args.patches, torch.device("cuda"))


if __name__ == "__main__":
    main()
