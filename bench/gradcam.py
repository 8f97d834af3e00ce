"""Benchmark: vizcore's Grad-CAM against pytorch-grad-cam's `GradCAM` and against a plain forward, same run.

    python bench/gradcam.py [--repeats 15] [--device cpu|cuda]

torchvision ResNet-18, layer4, 224x224 inputs, batch 1 and 8. Prints the median wall time of each and the ratios
ours / pytorch-grad-cam and ours / forward (< 1 means ours is faster). Both Grad-CAMs return maps at the input's
resolution. The forward is an inference forward (no autograd) of the same model and batch. Measurements of the
three are interleaved so that load from other processes falls on all of them alike. pytorch-grad-cam is used here
only as the peer (requirements-dev.txt).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vizcore.inspect import attribution as attr  # noqa: E402
from vizcore.models import weights as mweights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        sys.exit("error: pytorch-grad-cam is the benchmark peer: pip install -r requirements-dev.txt")
    dev = torch.device(args.device)
    base = mweights.get_model("resnet18").to(dev).eval()  # random weights: the cost does not depend on them
    ours_model = attr.prepare(base)
    peer = GradCAM(model=base, target_layers=[base.layer4])

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    print(f"device {dev} ({torch.get_num_threads()} CPU threads), resnet18 layer4, 224x224, median of {args.repeats}")
    print(f"{'batch':>5} {'forward ms':>11} {'ours ms':>9} {'pytorch-grad-cam ms':>20} {'ours/peer':>10} "
          f"{'ours/forward':>13}")
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(dev)
        targets = list(range(batch))
        fns = {
            "forward": lambda x=x: ours_model(x),
            "ours": lambda x=x, t=targets: attr.attribute(ours_model, x, "gradcam", t, "layer4").maps,
            "peer": lambda x=x, t=targets: peer(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in t]),
        }
        ours_maps = fns["ours"]().cpu()
        peer_maps = torch.from_numpy(fns["peer"]())
        # same maps up to each one's upsampling and scaling: compare the normalised peaks' positions
        same_peak = attr.peak_location(ours_maps) == attr.peak_location(peer_maps)
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(2):  # warm-up
            for fn in fns.values():
                fn()
        for _ in range(args.repeats):
            for k, fn in fns.items():
                sync()
                t = time.perf_counter()
                if k == "forward":
                    with torch.no_grad():
                        fn()
                else:
                    fn()
                sync()
                times[k].append(time.perf_counter() - t)
        med = {k: 1000 * statistics.median(v) for k, v in times.items()}
        print(f"{batch:>5} {med['forward']:>11.1f} {med['ours']:>9.1f} {med['peer']:>20.1f} "
              f"{med['ours'] / med['peer']:>10.2f} {med['ours'] / med['forward']:>13.2f}"
              f"   (peaks agree: {same_peak})")


if __name__ == "__main__":
    main()
