"""The Training Lab's live view: a fragment that polls the run store and redraws one run.

Kept apart from the page so the fragment can be rerun on its own (every ``poll_s`` seconds) and measured on
its own (bench/live_charts.py). The worker threads never call Streamlit: they write to the store, this reads it.
"""
from __future__ import annotations

import streamlit as st

from vizcore.figures import training as figures
from vizcore.lab import monitor

WATCH_KEY = "lab_watch"  # the watched run id: the selectbox's key, set by the page when a run is started


def follow(run_id: str) -> None:
    """Watch ``run_id`` from now on (call before the live view is drawn in this script run)."""
    st.session_state[WATCH_KEY] = run_id


def _watch_body(lab) -> None:
    store = lab.store
    runs = store.list()
    if not runs:
        st.info("No runs yet: press **Start run** above, or queue a comparison below.")
        return
    ids = [r.id for r in runs]
    names = {r.id: f"{r.name} — {r.status}" for r in runs}
    if st.session_state.get(WATCH_KEY) not in ids:  # never chosen, or deleted: follow the newest run
        st.session_state[WATCH_KEY] = ids[0]
    rid = st.selectbox("Run to watch", ids, format_func=names.get, key=WATCH_KEY)
    snap = monitor.snapshot(store, rid)
    st.progress(snap.fraction, text=snap.status_text())
    if not snap.finished:
        if st.button("Cancel this run", key="lab_cancel"):
            lab.cancel(rid)
            st.toast("Cancelling after the current step")
    elif snap.status in ("diverged", "failed"):
        st.error(snap.status_text())
    elif snap.status in ("cancelled", "interrupted"):
        st.warning(snap.status_text())
    s, e = snap.steps, snap.epochs_data
    if s.get("step") or e.get("epoch"):
        st.plotly_chart(figures.live_curves_figure(
            s["step"], s["loss"], s["lr"], s["throughput"], e["epoch"], e["train_loss"], e["val_loss"],
            e["train_acc"], e["val_acc"], title=f"Live curves of {snap.name}"), key="lab_live_chart")
    queued = lab.queued()
    if queued:
        st.caption(f"{len(queued)} run(s) waiting in the queue; the lab trains {lab.concurrency} at a time.")
    n_active = len(lab.running()) + len(queued)
    before = st.session_state.get("lab_active_count", n_active)
    st.session_state["lab_active_count"] = n_active
    if n_active != before:  # a run ended or started elsewhere: rerun the page (comparisons, poll rate)
        st.rerun()


def watch(lab, poll_s: float | None) -> None:
    """Draw the live view of the lab's runs, refreshed every ``poll_s`` seconds (None: only on page reruns)."""
    st.fragment(run_every=poll_s)(_watch_body)(lab)
