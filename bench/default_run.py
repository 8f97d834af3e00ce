"""The default embedded run: small_cnn on the synthetic shapes, as built on first use (vizcore.runs.default_model).

    python bench/default_run.py [--threads N]

Prints data-generation time, training wall time and process CPU time, validation accuracy per epoch, and the
ratios against the targets (about 60 s on 2 CPU cores; >= 90 % validation accuracy). Uses a temporary data
directory, so the cached default model is left alone.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CONVSCOPE_DATA_DIR"] = tmp
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        from vizcore import runs as R
        from vizcore import training as T

        cfg = R.DEFAULT_CONFIG
        print(f"default config: {cfg.model} on {cfg.dataset}, {cfg.train_size} train / {cfg.val_size} val images "
              f"at {cfg.image_size}px, {cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr}, "
              f"{cfg.schedule} with {cfg.warmup_epochs} warmup epochs; {torch.get_num_threads()} threads")
        t0, c0 = time.perf_counter(), time.process_time()
        T.load_data(cfg)  # the same call the run makes; cached for it
        t_data, c_data = time.perf_counter() - t0, time.process_time() - c0
        t1, c1 = time.perf_counter(), time.process_time()
        path = R.default_model()
        t_train, c_train = time.perf_counter() - t1, time.process_time() - c1
        meta = T.checkpoint_meta(path) or {}
        for ev in meta.get("history", []):
            print(f"  epoch {ev['epoch']}: train loss {ev['train_loss']:.3f}, train acc {100 * ev['train_acc']:.1f}%, "
                  f"val acc {100 * ev['val_acc']:.1f}%, {ev['images_per_s']:.0f} images/s")
        acc = meta.get("val_acc") or 0.0
        total_wall, total_cpu = t_data + t_train, c_data + c_train
        print(f"data generation: {t_data:.1f} s wall, {c_data:.1f} s CPU")
        print(f"training:        {t_train:.1f} s wall, {c_train:.1f} s CPU")
        print(f"total first use: {total_wall:.1f} s wall -> ratio to the 60 s target {total_wall / 60:.2f}")
        print(f"validation accuracy {100 * acc:.1f}% -> ratio to the 90% target {acc / 0.9:.3f}")


if __name__ == "__main__":
    main()
