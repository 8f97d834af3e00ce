"""The default embedded run: small_cnn on the synthetic shapes (vizcore.lab.default_model.DEFAULT_CONFIG).

    python bench/default_run.py [--threads N] [--epochs E] [--train-size N]

1. First use with the shipped checkpoint: time until the default model is ready in an empty data directory, and
   its accuracy on 1,000 held-out test images it never saw.
2. Training it again (what ``python -m vizcore default-model --retrain`` does), optionally shortened with
   ``--epochs`` / ``--train-size``: data generation and training wall / CPU time, validation accuracy per epoch,
   and the ratios against the targets (about 60 s on 2 CPU cores; >= 90 % validation accuracy).
Uses temporary data directories, so the user's cached default model is left alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--epochs", type=int, default=None, help="override DEFAULT_CONFIG.epochs (shorter run)")
    ap.add_argument("--train-size", type=int, default=None, help="override DEFAULT_CONFIG.train_size")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from vizcore.data import datasets as vdata
    from vizcore.lab import default_model as R
    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights
    from vizcore.train import data as train_data

    # 1. shipped checkpoint
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CONVSCOPE_DATA_DIR"] = tmp
        t0 = time.perf_counter()
        path = R.default_model()
        t_ready = time.perf_counter() - t0
        model = mweights.load_trained(path)
        test = vdata.load_dataset("shapes", split="test", n=1000, size=32, seed=0)
        entry = zoo.get_entry("small_cnn")
        mean, std = torch.tensor(entry.mean).view(1, 3, 1, 1), torch.tensor(entry.std).view(1, 3, 1, 1)
        with torch.no_grad():
            acc = (model((test.images.float() / 255 - mean) / std).argmax(1) == test.labels).float().mean().item()
        print(f"shipped default model: ready in {1000 * t_ready:.0f} ms on first use; "
              f"test accuracy {100 * acc:.1f}% on 1,000 unseen shapes (val at training: "
              f"{100 * (mweights.checkpoint_meta(path) or {}).get('val_acc', 0):.1f}%)")

    # 2. training it
    cfg = R.DEFAULT_CONFIG
    over = {k: v for k, v in (("epochs", args.epochs), ("train_size", args.train_size)) if v is not None}
    cfg = dataclasses.replace(cfg, **over)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CONVSCOPE_DATA_DIR"] = tmp
        print(f"\ntraining: {cfg.model} on {cfg.dataset}, {cfg.train_size} train / {cfg.val_size} val images at "
              f"{cfg.image_size}px, {cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr}, "
              f"{cfg.schedule} with {cfg.warmup_epochs} warmup epochs; {torch.get_num_threads()} threads"
              + (f" (shortened: {over})" if over else " (DEFAULT_CONFIG)"))
        t0, c0 = time.perf_counter(), time.process_time()
        train_data.load_data(cfg)  # the same call the run makes; cached for it
        t_data, c_data = time.perf_counter() - t0, time.process_time() - c0
        t1, c1 = time.perf_counter(), time.process_time()
        path = R.default_model(retrain=True, config=cfg)
        t_train, c_train = time.perf_counter() - t1, time.process_time() - c1
        meta = mweights.checkpoint_meta(path) or {}
        first_90 = None
        for ev in meta.get("history", []):
            print(f"  epoch {ev['epoch']:2d}: train loss {ev['train_loss']:.3f}, train acc {100 * ev['train_acc']:.1f}%, "
                  f"val acc {100 * ev['val_acc']:.1f}%, {ev['images_per_s']:.0f} images/s, "
                  f"{ev['elapsed_s']:.1f} s elapsed")
            if first_90 is None and ev["val_acc"] >= 0.9:
                first_90 = ev["elapsed_s"]
        acc = meta.get("val_acc") or 0.0
        total = t_data + t_train
        print(f"data generation: {t_data:.1f} s wall, {c_data:.1f} s CPU")
        print(f"training:        {t_train:.1f} s wall, {c_train:.1f} s CPU")
        print(f"total:           {total:.1f} s wall -> ratio to the 60 s target {total / 60:.2f}")
        print(f"final validation accuracy {100 * acc:.1f}% -> ratio to the 90% target {acc / 0.9:.3f}; "
              + (f"first reached 90% after {first_90:.0f} s of training" if first_90 else "90% not reached"))


if __name__ == "__main__":
    main()
