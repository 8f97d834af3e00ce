"""Trainer overhead: steps/s of the ConvScope engine (metrics streaming into the SQLite store) ÷ a bare PyTorch
loop on the same model, batch and synthetic tensors, measured in the same run; then the cost of each trick.

    python bench/trainer_overhead.py [--model small_cnn] [--batch 64] [--steps 16] [--repeats 3] [--device cpu]

Each measurement trains one warm-up epoch (not timed) and ``--epochs`` timed epochs of ``--steps`` steps and keeps
the fastest epoch (best-of, as ``timeit`` does: on a shared machine the slow epochs measure the neighbours);
engine and bare loop alternate ``--repeats`` times so drifting load hits both alike. The engine's time is its own
``train_time_s`` (training steps only, validation excluded; it ends with a device sync). Target: ratio >= 0.9.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vizcore.data.imageset import ImageSet
from vizcore.lab import store as R  # noqa: E402
from vizcore.models import registry as zoo  # noqa: E402
from vizcore.models import weights as mweights  # noqa: E402
from vizcore.train import config as train_config


def synthetic(n: int, size: int, classes: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return ImageSet(x, torch.randint(0, classes, (n,), generator=g), tuple(f"c{i}" for i in range(classes)))


def bare_steps_per_s(cfg: train_config.TrainConfig, data: ImageSet, device: torch.device, epochs: int) -> float:
    """The plainest loop: float tensors already normalised on the device, SGD step, nothing else."""
    model = zoo.build_model(cfg.model, num_classes=len(data.classes), seed=cfg.seed).train().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_all = ((data.images.float() / 255 - 0.5) / 0.5).to(device)
    y_all = data.labels.to(device)
    spe = cfg.steps_per_epoch()
    g = torch.Generator(device=device).manual_seed(0)

    def epoch() -> None:
        perm = torch.randperm(len(y_all), generator=g, device=device)
        for i in range(spe):
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x, y = x_all[idx], y_all[idx]
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        loss.item()  # wait for the device, like the engine does at the end of an epoch

    epoch()  # warm-up
    best = 0.0
    for _ in range(epochs):
        t = time.perf_counter()
        epoch()
        best = max(best, spe / (time.perf_counter() - t))
    return best


def engine_steps_per_s(cfg: train_config.TrainConfig, data: ImageSet, val: ImageSet, db: Path) -> float:
    """The engine, recording into a RunStore (step + epoch metrics streamed to SQLite); best timed epoch."""
    store = R.RunStore(db)
    rid = store.create(cfg)
    run = store.make_run(rid, (data, val))
    status = run.run_sync()
    if status != "done":
        raise SystemExit(f"engine run ended {status}: {run.message}")
    store.close()
    return max(cfg.steps_per_epoch() / ep["train_time_s"] for ep in run.history[1:])


TRICKS: dict[str, dict] = {
    "warmup + cosine": {"warmup_epochs": 1.0, "schedule": "cosine"},
    "step schedule": {"schedule": "step", "step_size": 1.0},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "no bias decay": {"no_bias_decay": True},
    "zero gamma": {"zero_gamma": True},
    "mixup 0.2": {"mixup_alpha": 0.2},
    "cutmix 1.0": {"cutmix_alpha": 1.0},
    "flip + crop": {"augment": "flip_crop"},
    "RandAugment 2/9": {"augment": "randaugment"},
    "TrivialAugment": {"augment": "trivialaugment"},
    "adamw": {"optimizer": "adamw", "lr": 1e-3},
    "distillation (same-size teacher)": {"distill_teacher": "<teacher>"},
    "whitened frozen stem": {"whiten_stem": True},
    "channels_last": {"channels_last": True},
    "flip": {"augment": "flip"},
    "bf16 autocast": {"precision": "bf16"},
    "fp16 autocast + GradScaler": {"precision": "fp16"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="small_cnn")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=16, help="timed steps per measurement")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement (best kept)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    ap.add_argument("--no-tricks", action="store_true", help="only the engine / bare ratio")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = train_config.TrainConfig(model=args.model, dataset="synthetic", train_size=args.batch * args.steps,
                        val_size=args.batch, epochs=1 + args.epochs, batch_size=args.batch, lr=0.01, schedule="constant",
                        device=args.device, log_every=1, time_budget_s=3600,
                        # the plain loop the bare one mirrors: the default recipe's tricks off, each one measured
                        # below as a trick of its own
                        warmup_epochs=0.0, no_bias_decay=False, augment="none", whiten_stem=False, tta_flip=False,
                        channels_last=device.type == "cuda")
    data = synthetic(cfg.train_size, cfg.image_size, 10, 0)
    val = synthetic(cfg.val_size, cfg.image_size, 10, 1)
    print(f"device {device} ({torch.get_num_threads()} threads), model {args.model}, batch {args.batch}, "
          f"best of {args.epochs} timed epochs of {args.steps} steps x {args.repeats} alternations; "
          "the engine streams every step into SQLite")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        bare, eng = [], []
        for _ in range(args.repeats):
            bare.append(bare_steps_per_s(cfg, data, device, args.epochs))
            eng.append(engine_steps_per_s(cfg, data, val, db))
        b, e = max(bare), max(eng)
        print(f"bare PyTorch loop : {b:8.2f} steps/s  ({b * args.batch:8.0f} images/s)")
        print(f"ConvScope engine  : {e:8.2f} steps/s  ({e * args.batch:8.0f} images/s)")
        print(f"ratio engine / bare = {e / b:.3f}   (target >= 0.9)")
        if args.no_tricks:
            return
        teacher = Path(tmp) / "teacher.pt"
        mweights.save_checkpoint(zoo.build_model(args.model, num_classes=10, seed=1), teacher,
                          {"model": args.model, "num_classes": 10})
        print("\ncost of each trick alone (engine steps/s with the trick / engine baseline, same run):")
        for name, kw in TRICKS.items():
            if kw.get("precision") == "fp16" and device.type != "cuda":
                print(f"  {name:32s}  n/a on {device.type} (needs CUDA)")
                continue
            model = "se_resnet_small" if name == "zero gamma" else args.model
            kw = {k: str(teacher) if v == "<teacher>" else v for k, v in kw.items()}
            c = dataclasses.replace(cfg, model=model, **kw)
            base_c = dataclasses.replace(cfg, model=model)
            with_trick, without = [], []
            for _ in range(args.repeats):
                without.append(engine_steps_per_s(base_c, data, val, db))
                with_trick.append(engine_steps_per_s(c, data, val, db))
            w, wo = max(with_trick), max(without)
            extra = f" ({model})" if model != args.model else ""
            print(f"  {name:32s} {w:8.2f} vs {wo:8.2f} steps/s  ratio {w / wo:.3f}{extra}")


if __name__ == "__main__":
    main()
