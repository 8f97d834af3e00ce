"""Few labels: 4 labels per class on shapes (40 labels), supervised vs pseudo-label vs FixMatch over seeds.

    python bench/few_labels.py [--seeds 0,1,2] [--methods supervised,pseudo_label,fixmatch] [--epochs E]

Each run is ``python -m vizcore train --json`` with the recipe of :mod:`vizcore.lab.few_labels` (a fresh process
and data directory): final validation accuracy (1,000 validation images), pass rate and pseudo-label accuracy of
the last epoch, wall seconds. Printed per method: mean accuracy with its 95% t-interval over seeds, mean wall,
and USB's CIFAR-10 figures with 40 labels beside (accuracy = 100 − error). The load average before each run is
printed: the machine may be shared, and wall times scale with it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cli_run(method: str, k: int, seed: int, extra: list[str]) -> dict:
    from vizcore.lab.few_labels import FewLabelsSpec, config_for

    cfg = config_for(FewLabelsSpec(method, k, seed))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.json"
        path.write_text(cfg.to_json())
        env = {**os.environ, "CONVSCOPE_DATA_DIR": tmp, "PYTHONPATH": str(ROOT), "CONVSCOPE_EXECUTOR": "inprocess"}
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "vizcore", "train", "--json", "--config", str(path), *extra],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    summary = next((x for x in lines if x.get("kind") == "summary"), None)
    epochs = [x for x in lines if "val_acc" in x and x.get("kind") != "summary"]
    if out.returncode != 0 or summary is None:
        raise SystemExit(f"{method} seed {seed}: exit {out.returncode}: {out.stderr.strip()[-300:]}")
    ssl = epochs[-1].get("ssl") or {}
    return {"method": method, "seed": seed, "val_acc": 100 * summary["val_acc"], "wall_s": wall, "load": load,
            "pass_rate": ssl.get("pass_rate"), "pseudo_acc": ssl.get("pseudo_label_accuracy"),
            "labelled": summary.get("labelled"), "unlabelled": summary.get("unlabelled")}


def main() -> None:
    from vizcore.lab.few_labels import USB_CIFAR10_40
    from vizcore.lab.stats import mean_interval

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default="supervised,pseudo_label,fixmatch")
    ap.add_argument("--k", type=int, default=4, help="labels per class")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = ap.parse_args()
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        for method in args.methods.split(","):
            r = cli_run(method, args.k, seed, extra)
            results.setdefault(method, []).append(r)
            print(json.dumps(r), flush=True)
    print(f"\n{args.k} labels per class on shapes ({10 * args.k} labels, 4,000 unlabelled), seeds {args.seeds}")
    print(f"{'method':<14}{'val acc % (95% interval)':<34}{'wall s':>8}   USB CIFAR-10, 40 labels (acc %)")
    base = None
    for method, rs in results.items():
        iv = mean_interval([r["val_acc"] for r in rs], bounds=(0.0, 100.0))
        wall = sum(r["wall_s"] for r in rs) / len(rs)
        usb = USB_CIFAR10_40.get(method)
        base = iv.mean if method == "supervised" else base
        gain = f"  (+{iv.mean - base:.1f} over supervised)" if base is not None and method != "supervised" else ""
        print(f"{method:<14}{iv.text(1):<34}{wall:>8.0f}   {'' if usb is None else f'{100 - usb:.1f}'}{gain}")


if __name__ == "__main__":
    main()
