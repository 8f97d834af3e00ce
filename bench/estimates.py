"""Time estimates against what follows: the default run and a 3-seed A/B, idle and under load.

    python bench/estimates.py [--load N] [--seeds 3] [--epochs E]

Runs go through the Training Lab's own queue in a temporary data directory, as from the page. For each case the
estimate the page would show (vizcore.lab.history.estimate / estimate_plan: its central figure and its range)
is taken just before queueing, then the runs' real wall time is measured (first start to last end, from the
run store). Cases, in order:

1. the default run on a machine that never trained here (a calibration: the page's first estimate);
2. the default run again (now from the finished run of the same configuration);
3. a 3-seed A/B of the default configuration (cosine vs step decay, 6 runs);
4. the default run with ``--load`` busy processes (default: as many as cores) running for a minute: the idle
   history, scaled to the load now (the machine's load per core, recorded with every run);
5. the same again, now that a run under load finished (recent runs weigh most).

The peer is what followed: each line prints estimate / actual (goal: within 0.7 to 1.3) and whether the
actual time fell inside the range shown.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _spin(stop) -> None:  # a busy process: another session's work on a shared server
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _wall(store, ids) -> float:
    recs = [store.get(r) for r in ids]
    return max(r.finished_at for r in recs) - min(r.started_at for r in recs)


def _case(name, est, actual) -> None:
    ratio = est.seconds / actual
    inside = est.low <= actual <= est.high
    print(f"{name:<44} estimate {est.seconds:6.1f} s ({est.low:5.1f} to {est.high:6.1f}, {est.source:>10}) | "
          f"actual {actual:6.1f} s | estimate / actual {ratio:5.2f} {'ok' if 0.7 <= ratio <= 1.3 else 'OFF'} | "
          f"in range: {'yes' if inside else 'no'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes for the loaded cases")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per arm of the A/B")
    ap.add_argument("--epochs", type=int, default=None, help="override the default run's epochs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CONVSCOPE_DATA_DIR"] = tmp
        from vizcore.lab import experiment as vexp
        from vizcore.lab import history
        from vizcore.lab.queue import Lab
        from vizcore.train.config import TrainConfig

        cfg = TrainConfig(device="cpu")
        if args.epochs:
            cfg = dataclasses.replace(cfg, epochs=args.epochs)
        lab = Lab(Path(tmp) / "runs.sqlite")
        db = lab.store.path

        def one(label: str) -> None:
            est = history.estimate(cfg, db)
            rid = lab.submit(cfg)
            lab.wait(rid)
            _case(label, est, _wall(lab.store, [rid]))

        print(f"{os.cpu_count()} cores; default run: {cfg.model}, {cfg.train_size} images, {cfg.epochs} epochs")
        one("1 default run, nothing finished here yet")
        one("2 default run again")
        plan = vexp.plan_ab(cfg, "cosine", args.seeds)
        configs = [c for _, _, c in plan.runs()]
        est = history.estimate_plan(configs, db)
        exp = vexp.submit_plan(lab, plan)
        for rid in exp.run_ids():
            lab.wait(rid)
        _case(f"3 A/B cosine, {args.seeds} seeds ({len(configs)} runs)", est, _wall(lab.store, exp.run_ids()))
        stop = mp.Event()
        procs = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.load)]
        for p in procs:
            p.start()
        time.sleep(60)  # the 1-minute load average catches up with the busy processes
        est = history.estimate(cfg, db)
        rid = lab.submit(cfg)
        lab.wait(rid)
        _case(f"4 default run, {args.load} busy processes", est, _wall(lab.store, [rid]))
        one("5 again under load (a loaded run is the latest)")
        stop.set()
        for p in procs:
            p.join()
        lab.shutdown()


if __name__ == "__main__":
    main()
