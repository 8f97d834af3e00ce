"""Executors side by side: one A/B (cosine vs step decay, 2 arms × N seeds) on a local process pool with 1 and
with 2 workers, and on a local Ray head, all on the same cores.

    python bench/executor.py [--seeds 2] [--train-size 2048] [--epochs 2] [--cpus 2] [--no-ray]

Each case runs in its own store of one temporary data directory, through the Training Lab's own queue
(vizcore.lab.queue.Lab with executor= and workers=), as the page and `python -m vizcore ab` do. Workers are
warmed first (one one-step run per worker, not counted): the figure is the A/B's wall time from the first
submit to the last run's end. Printed: each wall time, the ratios 2 workers / 1 worker (goal ≤ 0.75, ideally
0.55 on 2 cores) and Ray / 2 workers, and whether every case measured the same accuracies per (arm, seed).
The Ray case starts a head with `ray start --head --num-cpus CPUS` in a temporary folder and stops it after.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _case(db: Path, executor: str, workers: int | None, base, seeds: int) -> tuple[float, dict]:
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import Lab

    lab = Lab(db, executor=executor, workers=workers)
    try:
        warm = [lab.submit(dataclasses.replace(base, train_size=base.batch_size, val_size=16, epochs=1, seed=100 + i))
                for i in range(lab.concurrency)]
        for rid in warm:
            lab.wait(rid)
        t = time.perf_counter()
        exp = vexp.submit_plan(lab, vexp.plan_ab(base, "cosine", seeds))
        for r in exp.runs:
            lab.wait(r["run_id"])
        wall = time.perf_counter() - t
        acc = {(r["arm"], r["seed"]): lab.store.get(r["run_id"]).val_acc for r in exp.runs}
        where = {lab.store.get(r["run_id"]).info.get("worker") for r in exp.runs}
        print(f"{executor:>8} × {lab.concurrency}: {wall:6.1f} s  ({lab.describe()}; {len(where)} worker(s) used)")
        return wall, acc
    finally:
        lab.shutdown(wait=True, timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--train-size", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray head")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    os.environ["CONVSCOPE_DATA_DIR"] = str(tmp)
    from vizcore.train.config import TrainConfig

    base = TrainConfig(model="small_cnn", dataset="shapes", train_size=args.train_size, val_size=512,
                       epochs=args.epochs, batch_size=64, lr=0.1)
    print(f"A/B cosine vs step: 2 arms × {args.seeds} seeds, small_cnn on {args.train_size} shapes, "
          f"{args.epochs} epochs; {os.cpu_count()} cores")
    one, acc1 = _case(tmp / "one.sqlite", "process", 1, base, args.seeds)
    two, acc2 = _case(tmp / "two.sqlite", "process", 2, base, args.seeds)
    print(f"2 workers / 1 worker: {two / one:.2f}  (goal ≤ 0.75)   same accuracies: {acc1 == acc2}")
    if not args.no_ray:
        ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run([ray, "start", "--head", "--port", str(port), "--num-cpus", str(args.cpus),
                        "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(tmp / "ray")],
                       check=True, capture_output=True)
        os.environ["RAY_ADDRESS"] = f"127.0.0.1:{port}"
        try:
            r, acc3 = _case(tmp / "ray.sqlite", "ray", None, base, args.seeds)
            print(f"Ray / 2 workers: {r / two:.2f}   same accuracies: {acc3 == acc2}")
        finally:
            import ray as ray_mod

            ray_mod.shutdown()
            subprocess.run([ray, "stop", "--force"], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
