"""Live charts of the Training Lab: is a fragment rerun cheap, and does memory stay flat over a long run?

1. Rerun time: the live-view fragment (pages/_lab_live.py, what Streamlit reruns every second while a run trains)
   against a full rerun of pages/training_lab.py, both through streamlit.testing.v1.AppTest on the same store
   (one training run with 1,000 logged steps and a finished 2 x 3-seed comparison). Target ratio <= 0.2.
2. Memory: process RSS after ``--updates`` (default 1,000) live updates — each appends one step to a running
   run in the store, then reruns the fragment — against a minimal one-chart app (one plotly line that gains a
   point per update) driven the same way. Each is measured in its own fresh process.

Run: ``python bench/live_charts.py [--updates 1000] [--reruns 10]``. Prints the ratios.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAGMENT_SCRIPT = """
import streamlit as st
from vizcore.lab.queue import get_lab
from pages._lab_live import _watch_body
_watch_body(get_lab())
"""

MINIMAL_SCRIPT = """
import plotly.graph_objects as go
import streamlit as st
pts = st.session_state.setdefault("pts", [])
pts.append(float(len(pts) % 17))
st.plotly_chart(go.Figure(go.Scatter(y=pts, mode="lines")), key="only_chart")
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _step(store, rid: str, step: int) -> None:
    store.add_metric(rid, {"kind": "step", "step": step, "epoch": 1 + step // 100, "loss": 2.0 / (1 + step / 100),
                           "lr": 0.1, "throughput": 500.0})


def populate(steps: int = 1000) -> str:
    """A store with one running run (``steps`` steps logged) and a finished A/B over 3 seeds; returns the live id."""
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import get_lab
    from vizcore.train.config import TrainConfig

    store = get_lab().store
    base = TrainConfig(train_size=2000, val_size=500, epochs=10, batch_size=20)  # 100 steps per epoch
    plan = vexp.plan_ab(base, "cosine", 3)
    ids = []
    for arm, seed, cfg in plan.runs():
        rid = store.create(cfg, name=f"{arm} · seed {seed}")
        store.set_status(rid, "running")
        for ep in range(1, 6):
            acc = 0.5 + 0.05 * ep + 0.01 * seed + 0.02 * (arm == "cosine on")
            store.add_metric(rid, {"kind": "epoch", "epoch": ep, "train_loss": 1.0 / ep, "train_acc": acc,
                                   "val_loss": 1.1 / ep, "val_acc": acc, "lr": 0.1, "time_s": 2.0, "elapsed_s": 2.0 * ep})
        store.set_status(rid, "done", "5 epochs")
        ids.append(rid)
    vexp.new_experiment(plan, ids)
    live = store.create(base, name="live run")
    store.set_status(live, "running")
    store.set_info(live, {"steps_per_epoch": 100})
    for s in range(1, steps + 1):
        _step(store, live, s)
        if s % 100 == 0:
            store.add_metric(live, {"kind": "epoch", "epoch": s // 100, "train_loss": 1.0, "train_acc": 0.6,
                                    "val_loss": 1.0, "val_acc": 0.6, "lr": 0.1, "time_s": 2.0, "elapsed_s": s / 50})
    return live


def _time_reruns(at, n: int) -> float:
    at.run()  # warm: imports, caches
    t = time.perf_counter()
    for _ in range(n):
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return (time.perf_counter() - t) / n


def bench_rerun_time(reruns: int) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    live = populate()
    full = AppTest.from_file(str(ROOT / "pages" / "training_lab.py"), default_timeout=300)
    full.session_state["lab_watch"] = live
    frag = AppTest.from_string(FRAGMENT_SCRIPT, default_timeout=300)
    frag.session_state["lab_watch"] = live
    return _time_reruns(frag, reruns), _time_reruns(full, reruns)


def child_memory(kind: str, updates: int) -> dict:
    """Run in a fresh process: ``updates`` live updates of one app; RSS before and after."""
    from streamlit.testing.v1 import AppTest

    if kind == "lab":
        from vizcore.lab.queue import get_lab

        live = populate(steps=10)
        store = get_lab().store
        at = AppTest.from_string(FRAGMENT_SCRIPT, default_timeout=300)
        at.session_state["lab_watch"] = live
    else:
        store = live = None
        at = AppTest.from_string(MINIMAL_SCRIPT, default_timeout=300)
    for i in range(10):  # warm up: imports and first allocations are not growth
        if store is not None:
            _step(store, live, 11 + i)
        at.run()
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    for i in range(updates):
        if store is not None:
            _step(store, live, 21 + i)
        at.run()
    elapsed = time.perf_counter() - t
    assert not at.exception, [e.value for e in at.exception]
    gc.collect()
    return {"kind": kind, "rss_before_mb": before, "rss_after_mb": rss_mb(), "seconds": elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=1000, help="live updates for the memory comparison")
    ap.add_argument("--reruns", type=int, default=10, help="timed reruns per app for the time comparison")
    ap.add_argument("--child", choices=["lab", "minimal"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("CONVSCOPE_DATA_DIR", tempfile.mkdtemp(prefix="convscope-bench-"))
    if args.child:
        print(json.dumps(child_memory(args.child, args.updates)))
        return

    t_frag, t_full = bench_rerun_time(args.reruns)
    print(f"rerun time: live fragment {1000 * t_frag:.1f} ms, full page {1000 * t_full:.1f} ms "
          f"-> ratio {t_frag / t_full:.3f} (target <= 0.2)")
    res = {}
    for kind in ("lab", "minimal"):
        env = dict(os.environ, CONVSCOPE_DATA_DIR=tempfile.mkdtemp(prefix=f"convscope-bench-{kind}-"))
        out = subprocess.run([sys.executable, __file__, "--child", kind, "--updates", str(args.updates)],
                             capture_output=True, text=True, env=env, check=True, cwd=ROOT)
        res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    lab, mini = res["lab"], res["minimal"]
    g_lab = lab["rss_after_mb"] - lab["rss_before_mb"]
    g_min = mini["rss_after_mb"] - mini["rss_before_mb"]
    print(f"memory after {args.updates} updates: live lab view {lab['rss_after_mb']:.0f} MB (grew {g_lab:+.1f} MB, "
          f"{1000 * lab['seconds'] / args.updates:.1f} ms/update); minimal one-chart app "
          f"{mini['rss_after_mb']:.0f} MB (grew {g_min:+.1f} MB, {1000 * mini['seconds'] / args.updates:.1f} ms/update)")
    print(f"-> RSS ratio lab/minimal {lab['rss_after_mb'] / mini['rss_after_mb']:.2f}; "
          f"growth per 1,000 updates: lab {1000 * g_lab / args.updates:+.1f} MB vs minimal "
          f"{1000 * g_min / args.updates:+.1f} MB")


if __name__ == "__main__":
    main()
