"""Augmentation pipeline speed, two ratios measured in the same run against named peers:

1. the pipeline applied to a batch of 256 32×32 uint8 images (draw + apply) ÷ the same operations as a
   ``torchvision.transforms.v2.Compose`` applied image by image -- once drawing its own parameters (the usual
   per-sample Dataset transform), once replaying our draws through the per-image ``v2.functional`` kernels
   (the same operations and draws). Target <= 0.5.
2. the engine's training steps/s with a 4-operation pipeline ÷ without (same model, batch, data). Target >= 0.85.

    python bench/augment_pipeline.py [--batch 256] [--repeats 7] [--train-batch 128] [--steps 16] [--threads N]

Best-of timings (as ``timeit`` does: on a shared machine the slow repeats measure the neighbours), alternating
the contenders so drifting load hits both alike.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vizcore.data.pipeline import Pipeline  # noqa: E402
from vizcore.lab import store as R  # noqa: E402
from vizcore.train import config as train_config  # noqa: E402
from vizcore.train import data as train_data  # noqa: E402

PIPE = Pipeline.from_obj([
    {"op": "hflip", "p": 0.5},
    {"op": "crop", "params": {"padding": 4, "fill_mode": "reflect"}},
    {"op": "color_jitter", "params": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.0}},
    {"op": "random_erasing", "p": 0.5},
])
COMPOSE = v2.Compose([v2.RandomHorizontalFlip(0.5), v2.RandomCrop(32, padding=4, padding_mode="reflect"),
                      v2.ColorJitter(0.4, 0.4, 0.4), v2.RandomErasing(0.5)])
_JIT = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast, "saturation": F.adjust_saturation}


def replay_per_image(images: torch.Tensor, seed: int) -> torch.Tensor:
    """Our draws, applied image by image through torchvision's functional kernels."""
    drawn = PIPE.draw(images.shape[0], 32, 32, torch.Generator().manual_seed(seed))
    per: list[dict] = [{} for _ in range(images.shape[0])]
    for s in drawn.steps:
        for i, d in zip(s.index.tolist(), s.draws):
            per[i][s.op] = d
    out = []
    for x, d in zip(images, per):
        if "hflip" in d:
            x = F.horizontal_flip(x)
        c = d["crop"]
        x = F.crop(F.pad(x, [4], padding_mode="reflect"), c["dy"] + 4, c["dx"] + 4, 32, 32)
        j = d["color_jitter"]
        for k in j["order"]:
            x = _JIT[k](x, j[k])
        if d.get("random_erasing", {}).get("box"):
            t, left, h, w = d["random_erasing"]["box"]
            x = F.erase(x, t, left, h, w, torch.zeros(()))
        out.append(x)
    return torch.stack(out)


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def engine_steps_per_s(cfg: train_config.TrainConfig, data: train_data.TensorData, val: train_data.TensorData,
                       db: Path) -> float:
    store = R.RunStore(db)
    run = store.make_run(store.create(cfg), (data, val))
    if run.run_sync() != "done":
        raise SystemExit(f"engine run ended {run.status}: {run.message}")
    store.close()
    return max(cfg.steps_per_epoch() / ep["train_time_s"] for ep in run.history[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--train-batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=16, help="timed steps per training epoch")
    ap.add_argument("--epochs", type=int, default=3, help="timed training epochs (best kept)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, 32, 32), generator=g, dtype=torch.uint8)
    print(f"{torch.get_num_threads()} threads; pipeline: " + " -> ".join(s.label() for s in PIPE.steps))
    t_pipe, t_compose, t_replay = [], [], []
    for r in range(args.repeats):  # alternate so drifting load hits all three alike
        t_pipe.append(best(lambda r=r: PIPE.run(images, torch.Generator().manual_seed(r)), 1))
        t_compose.append(best(lambda: torch.stack([COMPOSE(x) for x in images]), 1))
        t_replay.append(best(lambda r=r: replay_per_image(images, r), 1))
    p, c, rp = min(t_pipe), min(t_compose), min(t_replay)
    print(f"batched pipeline            : {1000 * p:8.2f} ms per batch of {args.batch}")
    print(f"v2.Compose per image        : {1000 * c:8.2f} ms")
    print(f"same draws, per-image kernels: {1000 * rp:7.2f} ms")
    print(f"ratio pipeline / v2.Compose per image = {p / c:.3f}   (target <= 0.5)")
    print(f"ratio pipeline / per-image kernels (same draws) = {p / rp:.3f}")

    cfg = train_config.TrainConfig(model="small_cnn", dataset="synthetic", train_size=args.train_batch * args.steps,
                                   val_size=args.train_batch, epochs=1 + args.epochs, batch_size=args.train_batch,
                                   lr=0.01, schedule="constant", device="cpu", log_every=args.steps,
                                   time_budget_s=3600, augment="none")  # the pipeline is the only augmentation
    with_pipe = train_config.TrainConfig(**{**cfg.to_dict(), "augment_pipeline": PIPE.to_json()})
    data = train_data.TensorData(torch.randint(0, 256, (cfg.train_size, 3, 32, 32), generator=g, dtype=torch.uint8),
                                 torch.randint(0, 10, (cfg.train_size,), generator=g), tuple(f"c{i}" for i in range(10)))
    val = train_data.TensorData(data.images[:cfg.val_size], data.labels[:cfg.val_size], data.classes)
    with tempfile.TemporaryDirectory() as tmp:
        plain, piped = [], []
        for _ in range(2):
            plain.append(engine_steps_per_s(cfg, data, val, Path(tmp) / "b.sqlite"))
            piped.append(engine_steps_per_s(with_pipe, data, val, Path(tmp) / "b.sqlite"))
    a, b = max(plain), max(piped)
    print(f"engine without augmentation : {a:7.2f} steps/s (batch {args.train_batch}, small_cnn, CPU)")
    print(f"engine with the 4-op pipeline: {b:6.2f} steps/s")
    print(f"ratio with / without = {b / a:.3f}   (target >= 0.85)")


if __name__ == "__main__":
    main()
