"""The default run and the default model: what a new user meets first.

    python bench/default_run.py [--threads N] [--seeds 0,1,2,3,4] [--set FIELD=VALUE ...] [--no-shipped]

1. First use with the shipped checkpoint: time until the default model (small_cnn on the shapes) is ready in an
   empty data directory, and its accuracy on 1,000 held-out test images it never saw (``--no-shipped`` skips it).
2. The default run (TrainConfig's defaults, the fast recipe; what the Training Lab's "Start run" trains) once per
   seed of ``--seeds``, each from nothing (an empty data directory, the images generated again): per seed the
   whole run's wall and CPU time and the validation accuracy per epoch; then the mean and standard deviation of
   the final accuracy over the seeds and the ratios against the targets: mean >= 98%, seed-to-seed sd <= 0.25
   points (a 3-seed A/B then resolves about 0.75 points), the whole run <= 15 s on 2 idle CPU cores (2 threads).
   ``--set`` changes fields of the run (a candidate recipe; values are JSON, else text), ``--epochs`` and
   ``--train-size`` are short for two of them.
Uses temporary data directories, so the user's cached default model and runs are left alone. Wall times on a
busy machine say little: compare CPU seconds of runs measured in the same session, on the same cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MEAN = 98.0  # % final validation accuracy, mean over seeds
TARGET_SD = 0.25  # points, standard deviation over seeds
TARGET_WALL_S = 15.0  # the whole run on 2 idle CPU cores with 2 threads


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {k: v for k, v in (("epochs", args.epochs), ("train_size", args.train_size))
                            if v is not None}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"expected --set FIELD=VALUE, got {item!r}")
        try:
            over[key] = json.loads(text)
        except json.JSONDecodeError:
            over[key] = text
    return over


def shipped_model() -> None:
    """Time to the shipped default model in an empty data directory, and its accuracy on unseen shapes."""
    import torch

    from vizcore.data import datasets as vdata
    from vizcore.lab import default_model as R
    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights

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


def one_run(cfg: Any) -> dict[str, Any]:
    """The run ``cfg`` through the run store as the Lab records it, from an empty data directory and no cached
    images: wall and CPU seconds of the whole run (data, set-up, epochs, validation) and its epoch events."""
    from vizcore.lab.store import RunStore
    from vizcore.train import data as train_data

    train_data._DATA_CACHE.clear()  # every seed pays for its images, as a fresh Lab worker does
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CONVSCOPE_DATA_DIR"] = tmp
        store = RunStore(Path(tmp) / "runs.sqlite")
        rid = store.create(cfg)
        run = store.make_run(rid)
        t0, c0 = time.perf_counter(), time.process_time()
        status = run.run_sync()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        epochs = store.metrics(rid, "epoch")
        store.close()
    if status != "done" or not epochs:
        raise SystemExit(f"seed {cfg.seed}: the run ended {status}: {run.message}")
    return {"seed": cfg.seed, "wall_s": wall, "cpu_s": cpu, "epochs": epochs, "val_acc": 100 * epochs[-1]["val_acc"],
            "setup_s": epochs[0]["elapsed_s"] - epochs[0]["time_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--seeds", default="0,1,2,3,4", help="seeds of the default run (comma-separated)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a field of the default run (repeatable), e.g. --set batch_size=128")
    ap.add_argument("--epochs", type=int, default=None, help="override the default run's epochs (shorter run)")
    ap.add_argument("--train-size", type=int, default=None, help="override the default run's train_size")
    ap.add_argument("--no-shipped", action="store_true", help="skip the shipped default model")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_shipped:
        shipped_model()

    from vizcore.train.config import TrainConfig

    over = _overrides(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    cfg = dataclasses.replace(TrainConfig(device="cpu"), **over)
    print(f"\ndefault run: {cfg.model} on {cfg.dataset}, {cfg.train_size} train / {cfg.val_size} val images at "
          f"{cfg.image_size}px, {cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr} "
          f"(warmup {cfg.warmup_epochs} epochs, {cfg.schedule}); {torch.get_num_threads()} threads; seeds {seeds}"
          + (f" (changed: {over})" if over else " (TrainConfig's defaults)"))
    runs = []
    for seed in seeds:
        r = one_run(dataclasses.replace(cfg, seed=seed))
        runs.append(r)
        curve = ", ".join(f"{100 * ev['val_acc']:.2f}" for ev in r["epochs"])
        print(f"  seed {seed}: val acc per epoch {curve} %; whole run {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s "
              f"CPU (data and model set-up {r['setup_s']:.1f} s); load average {os.getloadavg()[0]:.2f}")
    accs = [r["val_acc"] for r in runs]
    mean = statistics.mean(accs)
    sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    print(f"final validation accuracy: mean {mean:.2f}% (ratio to the {TARGET_MEAN:g}% target "
          f"{mean / TARGET_MEAN:.3f}), sd {sd:.2f} points over {len(accs)} seeds (ratio to the {TARGET_SD:g} target "
          f"{sd / TARGET_SD:.2f}), worst seed {min(accs):.2f}%")
    print(f"whole run: median {wall:.1f} s wall, {cpu:.1f} s CPU (ratio of the wall to the {TARGET_WALL_S:g} s "
          f"target on 2 idle cores {wall / TARGET_WALL_S:.2f}; meaningful only on an idle machine)")


if __name__ == "__main__":
    main()
