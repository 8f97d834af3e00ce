"""The fast default recipe (TrainConfig's defaults): accuracy and time per seed, an A/B's wall, engine ÷ bare loop.

    python bench/recipe.py [--seeds 0,1,2] [--no-ab] [--no-throughput] [--epochs-timed 2]

1. ``python -m vizcore train --json --seed S`` for each seed, as a user runs it (a fresh process, an empty data
   directory): final validation accuracy, time to 90% (wall from process start until the first epoch line with
   val ≥ 90% arrives), total wall and CPU seconds; mean, standard deviation over seeds and the ratios against
   the targets (≥ 90% in ≤ 30 s, seed std ≤ 0.5 points).
2. ``python -m vizcore ab --trick label_smoothing --seeds 3 --json``: the wall of an A/B of 3 seeds per arm
   (target ≤ 180 s), its result, and the seeds per arm its measured spread needs for a 0.5-point effect
   (:mod:`vizcore.lab.power`).
3. Training images/s of the engine (``Run``, the default config: flip pipeline, schedule, metrics, step events)
   ÷ a bare PyTorch loop of the same network (the same whitened, frozen stem), batch and uint8 data tensor,
   measured alternately in this process; best epoch of each (target ≥ 0.9).
Run it under ``flock /tmp/cs_bench.lock`` on a quiet machine; the load average before start is printed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_run(seed: int) -> dict:
    """One default run through the CLI in a fresh process and data directory; epoch lines timestamped."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CONVSCOPE_DATA_DIR": tmp, "PYTHONPATH": str(ROOT)}
        c0, t0 = _child_cpu(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "vizcore", "train", "--json", "--seed", str(seed)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        epochs, summary = [], None
        assert proc.stdout is not None
        for line in proc.stdout:
            ev = json.loads(line)
            if ev.get("kind") == "epoch":
                epochs.append({**ev, "wall_s": time.perf_counter() - t0})
            elif ev.get("kind") == "summary":
                summary = ev
        rc = proc.wait()
        wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    if rc != 0 or summary is None or summary["status"] != "done":
        raise SystemExit(f"seed {seed}: the run did not finish (exit {rc}, {summary})")
    first90 = next((e for e in epochs if e["val_acc"] >= 0.9), None)
    return {"seed": seed, "val_acc": 100 * summary["val_acc"], "wall_s": wall, "cpu_s": cpu, "load_1min": os.getloadavg()[0],
            "time_to_90_s": first90["wall_s"] if first90 else None,
            "run_time_to_90_s": first90["elapsed_s"] if first90 else None,
            "epochs": [(e["epoch"], round(100 * e["val_acc"], 2), round(e["wall_s"], 1)) for e in epochs]}


def ab_run(seeds: int) -> dict:
    """``python -m vizcore ab --trick label_smoothing --seeds N`` in a fresh process and data directory."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CONVSCOPE_DATA_DIR": tmp, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "vizcore", "ab", "--trick", "label_smoothing", "--seeds",
                              str(seeds), "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"A/B failed: {out.stderr.strip()[-500:]}")
    return {"wall_s": wall, **json.loads(out.stdout)}


def throughput(epochs: int, repeats: int) -> dict:
    """Best training images/s of the engine and of a bare loop on the same network, batch and data tensor."""
    import torch

    from vizcore.models import registry as zoo
    from vizcore.models.preprocess import for_model
    from vizcore.train import data as train_data
    from vizcore.train.config import TrainConfig
    from vizcore.train.engine import WHITEN_IMAGES, Run
    from vizcore.train.tricks import whiten_stem_

    cfg = dataclasses.replace(TrainConfig(), epochs=1 + epochs, time_budget_s=3600.0, device="cpu")
    train, val = train_data.load_data(cfg)
    pre = for_model(cfg.model)
    spe = cfg.steps_per_epoch(len(train.labels))

    def engine() -> float:
        run = Run(cfg, data=(train, val))
        if run.run_sync() != "done":
            raise SystemExit(f"engine run ended {run.status}: {run.message}")
        return max(spe * cfg.batch_size / ep["train_time_s"] for ep in run.history[1:])

    def bare() -> float:
        """The plainest loop that trains the same thing: flip, normalise, forward, smoothed CE, backward, step."""
        model = zoo.build_model(cfg.model, num_classes=10, seed=cfg.seed).train()
        whiten_stem_(model, pre.normalize(train.images[:WHITEN_IMAGES].float().div(255)))
        model = model.to(memory_format=torch.channels_last)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        x_all, y_all = train.images, train.labels
        g = torch.Generator().manual_seed(0)
        best = 0.0
        for k in range(1 + epochs):  # the first epoch warms up (oneDNN primitives); the engine's is left out too
            t = time.perf_counter()
            perm = torch.randperm(len(y_all), generator=g)
            for i in range(spe):
                idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
                xb = x_all[idx]
                flip = torch.rand(len(idx), generator=g) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                x = pre.normalize(xb.float().div_(255)).contiguous(memory_format=torch.channels_last)
                loss = loss_fn(model(x), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            loss.item()
            if k > 0:
                best = max(best, spe * cfg.batch_size / (time.perf_counter() - t))
        return best

    eng, bar = [], []
    for _ in range(repeats):
        bar.append(bare())
        eng.append(engine())
    return {"engine_images_per_s": max(eng), "bare_images_per_s": max(bar), "ratio": max(eng) / max(bar),
            "threads": torch.get_num_threads(), "batch": cfg.batch_size, "steps_per_epoch": spe}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the default run (comma-separated)")
    ap.add_argument("--no-ab", action="store_true", help="skip the A/B of 3 seeds per arm")
    ap.add_argument("--no-throughput", action="store_true", help="skip engine vs bare loop")
    ap.add_argument("--epochs-timed", type=int, default=2, help="timed epochs per throughput measurement")
    ap.add_argument("--repeats", type=int, default=2, help="engine / bare alternations")
    args = ap.parse_args()
    from vizcore.lab import power
    from vizcore.train.config import TrainConfig

    cfg = TrainConfig()
    print(f"load average before start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"recipe: {cfg.model}, {cfg.train_size} train / {cfg.val_size} val shapes at {cfg.image_size}px, "
          f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr} (warmup {cfg.warmup_epochs} "
          f"epochs, {cfg.schedule}), label smoothing {cfg.label_smoothing}, augment {cfg.augment}, whiten_stem "
          f"{cfg.whiten_stem}, tta_flip {cfg.tta_flip}, channels_last {cfg.channels_last}, data_seed {cfg.data_seed}")
    report: dict = {"load_before": os.getloadavg()}
    runs = [cli_run(int(s)) for s in args.seeds.split(",")]
    report["runs"] = runs
    print("\n1. python -m vizcore train --json (fresh process and data directory per seed)")
    print(f"{'seed':>4} {'val acc %':>9} {'to 90% s':>9} {'wall s':>7} {'CPU s':>6} {'load':>5}  epochs (epoch, val %, "
          "wall s)")
    for r in runs:
        t90 = f"{r['time_to_90_s']:.1f}" if r["time_to_90_s"] is not None else "never"
        print(f"{r['seed']:>4} {r['val_acc']:>9.2f} {t90:>9} {r['wall_s']:>7.1f} {r['cpu_s']:>6.1f} "
              f"{r['load_1min']:>5.2f}  {r['epochs']}")
    print("(load: 1-minute load average at the end of the run; above ~2.3 something else shared the 2 cores)")
    accs = [r["val_acc"] for r in runs]
    sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
    walls = [r["wall_s"] for r in runs]
    t90s = [r["time_to_90_s"] for r in runs if r["time_to_90_s"] is not None]
    report["summary"] = {"mean_acc": statistics.mean(accs), "sd_acc": sd, "min_acc": min(accs),
                         "max_wall_s": max(walls), "max_time_to_90_s": max(t90s) if t90s else None}
    print(f"mean {statistics.mean(accs):.2f}%, sd {sd:.2f} points (target <= 0.5 -> ratio {sd / 0.5:.2f}); "
          f"worst seed {min(accs):.2f}% (ratio to the 90% target {min(accs) / 90:.3f}, to the 92% stretch "
          f"{min(accs) / 92:.3f}); slowest wall {max(walls):.1f} s (ratio to the 30 s target {max(walls) / 30:.2f})"
          + (f"; slowest time to 90% {max(t90s):.1f} s" if t90s else "; 90% never reached"))
    if not args.no_ab:
        ab = ab_run(3)
        report["ab"] = ab
        print(f"\n2. A/B label smoothing, 3 seeds per arm: {ab['wall_s']:.1f} s wall (ratio to the 180 s target "
              f"{ab['wall_s'] / 180:.2f}); load average at the end {os.getloadavg()[0]:.2f}")
        for row in ab["table"]:
            print("   ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
        for d in ab["differences"]:
            print(f"    {d['b']} - {d['a']}: {d['diff']:+.2f} ± {d['half_width']:.2f} points ({d['test']}, "
                  f"p = {d['p_value']:.3g}): {d['verdict']}")
        if sd == sd and sd > 0:
            est = power.estimate(sd, 0.5, 3)
            report["power"] = dataclasses.asdict(est)
            print(f"    at the default run's spread: {est.text()}")
    if not args.no_throughput:
        tp = throughput(args.epochs_timed, args.repeats)
        report["throughput"] = tp
        print(f"\n3. training images/s (load average at the end {os.getloadavg()[0]:.2f}), {tp['threads']} threads, "
              f"batch {tp['batch']}, best of {args.epochs_timed} "
              f"epochs x {args.repeats}: bare PyTorch loop {tp['bare_images_per_s']:.0f}, engine "
              f"{tp['engine_images_per_s']:.0f} -> ratio engine / bare {tp['ratio']:.3f} (target >= 0.9)")
    print("\n" + json.dumps(report, default=str))


if __name__ == "__main__":
    main()
