"""The default run and the default model: what a new user meets first.

    python bench/default_run.py [--threads N] [--epochs E] [--train-size N]

1. First use with the shipped checkpoint: time until the default model (small_cnn on the shapes) is ready in an
   empty data directory, and its accuracy on 1,000 held-out test images it never saw.
2. The default run (TrainConfig's defaults, the fast recipe; what the Training Lab's "Start run" trains),
   optionally shortened with ``--epochs`` / ``--train-size``: the whole run's wall and CPU time, validation
   accuracy per epoch, and the ratios against the targets (15 s on 2 idle CPU cores; >= 98 % accuracy).
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
    ap.add_argument("--epochs", type=int, default=None, help="override the default run's epochs (shorter run)")
    ap.add_argument("--train-size", type=int, default=None, help="override the default run's train_size")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from vizcore.data import datasets as vdata
    from vizcore.lab import default_model as R
    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights

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

    # 2. the default run: what "Start run" trains with the Lab's defaults (TrainConfig(), the fast recipe)
    from vizcore.lab.store import RunStore
    from vizcore.train.config import TrainConfig

    over = {k: v for k, v in (("epochs", args.epochs), ("train_size", args.train_size)) if v is not None}
    cfg = dataclasses.replace(TrainConfig(device="cpu"), **over)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CONVSCOPE_DATA_DIR"] = tmp
        print(f"\ndefault run: {cfg.model} on {cfg.dataset}, {cfg.train_size} train / {cfg.val_size} val images at "
              f"{cfg.image_size}px, {cfg.epochs} epochs, batch {cfg.batch_size}; {torch.get_num_threads()} threads"
              + (f" (shortened: {over})" if over else " (TrainConfig's defaults)"))
        store = RunStore(Path(tmp) / "runs.sqlite")
        rid = store.create(cfg)
        run = store.make_run(rid)
        t0, c0 = time.perf_counter(), time.process_time()
        status = run.run_sync()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        epochs = store.metrics(rid, "epoch")
        for ev in epochs:
            print(f"  epoch {ev['epoch']:2d}: train loss {ev['train_loss']:.3f}, val acc {100 * ev['val_acc']:.2f}%, "
                  f"{ev['images_per_s']:.0f} images/s, {ev['elapsed_s']:.1f} s elapsed")
        setup = epochs[0]["elapsed_s"] - epochs[0]["time_s"] if epochs else float("nan")
        acc = epochs[-1]["val_acc"] if epochs else 0.0
        print(f"status {status}; whole run {wall:.1f} s wall, {cpu:.1f} s CPU (data and model set-up {setup:.1f} s)")
        print(f"ratio to the 15 s target {wall / 15:.2f}; final validation accuracy {100 * acc:.2f}% -> ratio to the "
              f"98% target {acc / 0.98:.3f}")
        store.close()


if __name__ == "__main__":
    main()
