"""Benchmark: vizcore's PGD (captum.robust) against torchattacks' PGD and a bare autograd loop, same run.

    python bench/attack.py [--repeats 5] [--batch 256] [--steps 10] [--device cpu|cuda]

ConvScope's default small_cnn (trained on the shapes), a batch of held-out shapes, PGD-10 Linf at ε = 8/255 with
α = 2.5 ε / steps and no random start. Timed: ours (``vizcore.robust.attacks.adversarial``, captum's PGD),
our plain-autograd step for training (``vizcore.robust.perturb``), torchattacks' ``PGD`` and a bare loop
written here. Prints the median wall and CPU time of each, the ratios ours / peer, and the largest pixel difference
from the bare loop (all four compute the same images). Measurements are interleaved so that load from other
processes falls on all of them alike. torchattacks is the peer only, never imported by the app; its 3.5.1
release pins requests~=2.25.1, which conflicts with streamlit, so install it apart:
``pip install --no-deps torchattacks==3.5.1``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from vizcore.data.datasets import load_dataset  # noqa: E402
from vizcore.lab.default_model import default_model  # noqa: E402
from vizcore.models.preprocess import for_model  # noqa: E402
from vizcore.models.weights import load_trained  # noqa: E402
from vizcore.robust import attacks, perturb  # noqa: E402


class Pixels(nn.Module):
    """The model taking pixels in [0, 1] (its normalisation in front), as torchattacks expects. Built in eval
    mode: torchattacks puts a model back into train mode afterwards when it came in train mode."""

    def __init__(self, model: nn.Module, prep) -> None:
        super().__init__()
        self.model, self.prep = model, prep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.prep.normalize(x))


def bare_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """PGD as a tutorial writes it: normalise, forward, summed CE, input gradient, sign step, clamp twice."""
    xa = x.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model((xa - 0.5) / 0.5), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        with torch.no_grad():
            xa = torch.min(torch.max(xa + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    try:
        import torchattacks
    except ImportError:
        sys.exit("error: torchattacks is the benchmark peer: pip install --no-deps torchattacks==3.5.1")
    dev = torch.device(args.device)
    model = load_trained(default_model(model="small_cnn"), model="small_cnn").to(dev).eval()
    prep = for_model("small_cnn")
    ds = load_dataset("shapes", split="val", n=args.batch, size=32, seed=0)
    x, y = (ds.images.float() / 255).to(dev), ds.labels.to(dev)
    eps, steps = 8 / 255, args.steps
    alpha = 2.5 * eps / steps
    forward = attacks.pixel_forward(model, prep)
    peer = torchattacks.PGD(Pixels(model, prep).eval(), eps=eps, alpha=alpha, steps=steps, random_start=False)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    fns = {
        "ours": lambda: attacks.adversarial(forward, x, y, method="pgd", eps=eps, norm="linf", steps=steps,
                                            step_size=alpha, random_start=False, targeted=False, seed=0),
        "ours_fast": lambda: perturb(forward, x, y, eps, method="pgd", steps=steps, step_size=alpha),
        "torchattacks": lambda: peer(x, y),
        "bare": lambda: bare_pgd(model, x, y, eps, alpha, steps),
    }
    ref = fns["bare"]()
    diffs = {k: float((fn() - ref).abs().max()) for k, fn in fns.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for k, fn in fns.items():
            sync()
            t, c = time.perf_counter(), time.process_time()
            fn()
            sync()
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    med = {k: 1000 * statistics.median(v) for k, v in times.items()}
    med_cpu = {k: 1000 * statistics.median(v) for k, v in cpu.items()}
    print(f"device {dev} ({torch.get_num_threads()} CPU threads), small_cnn, batch {args.batch}, PGD-{steps} Linf "
          f"eps 8/255, median of {args.repeats}")
    for k in fns:
        print(f"{k:>13} {med[k]:>9.1f} ms wall {med_cpu[k]:>9.1f} ms CPU   max |x - bare| {diffs[k]:.2e}")
    for what, m in (("wall", med), ("CPU", med_cpu)):
        faster = min(m["torchattacks"], m["bare"])
        print(f"{what:>4}: ours / torchattacks {m['ours'] / m['torchattacks']:.3f}   ours / bare {m['ours'] / m['bare']:.3f}"
              f"   ours / faster peer {m['ours'] / faster:.3f}   ours_fast / faster peer {m['ours_fast'] / faster:.3f}")


if __name__ == "__main__":
    main()
