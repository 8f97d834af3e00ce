"""The Training Lab's live views: fragments that poll the run store and redraw one run, and one comparison.

Kept apart from the page so the fragments can be rerun on their own (every ``poll_s`` seconds) and measured on
their own (bench/live_charts.py). The worker threads never call Streamlit: they write to the store, this reads it.
"""
from __future__ import annotations

import math
import time

import pandas as pd
import streamlit as st

from pages._common import show_figure
from vizcore.core.device import busy_text
from vizcore.figures import training as figures
from vizcore.lab import monitor, power, sweep
from vizcore.lab import results as exp_results

WATCH_KEY = "lab_watch"  # the watched run id: the selectbox's key (with "_<n>" after the n-th follow)
CHOSEN_KEY = "lab_watch_chosen"  # the run the user (or follow) chose; none: the live view picks the active run
NEXT_KEY = "lab_watch_next"  # a run to watch from the next draw of the live view on (set by follow)
FOLLOWS_KEY = "lab_watch_follows"  # how many times the live view was moved by follow: the box's key suffix
ACTIVE_KEY = "lab_active_count"  # runs queued or running when the page last drew
DRAWN_KEY = "lab_page_drawn_at"  # time.monotonic() of the page's last whole run
# While runs come and go, the whole page (run lists, the comparison list, the paper table) is redrawn at most this
# often: every redraw costs every open tab a second or more of its browser's CPU, and a class's queue starts and
# ends runs all the time. The first run starting and the last ending redraw it at once (the poll rate changes).
PAGE_REDRAW_S = 15.0


def follow(run_id: str) -> None:
    """Watch ``run_id`` from the next draw of the live view on.

    Safe to call anywhere in a script run, also after the live view's "Run to watch" box was drawn (the
    A/B queue button sits below it): the box's own key may not change once drawn in a run, so the run id waits
    under another key and the live view moves the box to it before drawing it.
    """
    st.session_state[NEXT_KEY] = run_id


def _run_label(rec) -> str:
    # no status here: a select box's option labels are not redrawn while it is open or unchanged, so a status
    # in them went stale ("— running" after the run had finished); the line under the box says the status.
    return f"{rec.name} · #{rec.id}"


def _watch_box(runs: list, ids: list[str], by_id: dict) -> str:
    """The "Run to watch" box; the run it shows.

    The box's value is never written from here: a value written into a drawn widget's state races the browser,
    whose next message (a fragment tick) can carry the old value back as if the user had picked it. A run to
    follow gets a fresh box instead (a new key), drawn at that run; the user's pick in a box is its own value."""
    follows = st.session_state.get(FOLLOWS_KEY, 0)
    wanted = st.session_state.pop(NEXT_KEY, None)
    if wanted in ids:
        st.session_state[CHOSEN_KEY] = wanted
        follows += 1
        st.session_state[FOLLOWS_KEY] = follows
    key = WATCH_KEY if follows == 0 else f"{WATCH_KEY}_{follows}"
    chosen = st.session_state.get(key)
    if chosen not in ids:
        chosen = st.session_state.get(CHOSEN_KEY)
    if chosen not in ids:  # nothing chosen (a new tab, a reload) or deleted: the run training now, else the next
        # to start, else the newest (after a reload during an A/B the newest is the last queued, which only waits)
        running = [r.id for r in runs if r.status == "running"]
        waiting = [r.id for r in reversed(runs) if r.status == "queued"]
        chosen = running[0] if running else waiting[0] if waiting else ids[0]
    if key in st.session_state and st.session_state[key] not in ids:
        del st.session_state[key]  # a deleted run: the box starts again at the choice above
    rid = st.selectbox("Run to watch", ids, index=ids.index(chosen), format_func=lambda i: _run_label(by_id[i]),
                       key=key)
    st.session_state[CHOSEN_KEY] = rid
    return rid


def _watch_body(lab) -> None:
    store = lab.store
    runs = store.list()
    if not runs:
        st.info("No runs yet: press **Start run** above, or queue a comparison below.")
        return
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    rid = _watch_box(runs, ids, by_id)
    snap = monitor.snapshot(store, rid)
    # the status once: a progress bar while it waits or trains, a coloured box once it ended badly
    if not snap.finished:
        st.progress(snap.fraction, text=snap.status_text())
        if st.button("Cancel this run", key="lab_cancel"):
            lab.cancel(rid)
            st.toast("Cancelling after the current step")
    elif snap.status == "done":
        st.progress(1.0, text=snap.status_text())
    elif snap.status in ("diverged", "failed"):
        st.error(snap.status_text())
    else:  # cancelled, interrupted
        st.warning(snap.status_text())
    worker = by_id[rid].info.get("worker") if snap.status != "queued" else None
    if worker:
        st.caption(f"{'Training' if not snap.finished else 'Ran'} on {worker} ({by_id[rid].info.get('executor')}).")
    s, e = snap.steps, snap.epochs_data
    if snap.has_curves:
        show_figure(figures.live_curves_figure(
            s["step"], s["loss"], s["lr"], s["throughput"], e["epoch"], e["train_loss"], e["val_loss"],
            e["train_acc"], e["val_acc"], title=f"Live curves of {snap.name}", robust_acc=e.get("robust_acc", ())),
            key="lab_live_chart")
    elif snap.finished:
        st.caption("No curves: the run ended before its first logged step.")
    else:
        st.caption("Curves appear after the first logged steps.")
    queued = lab.queued()
    if snap.status == "queued" and rid in queued:
        st.info(monitor.queue_text(lab, rid))
    elif queued:
        st.caption(f"{len(queued)} run(s) waiting in the queue; the lab trains {lab.concurrency} at a time.")
    st.caption(f"Runs train in {lab.describe()}; {len(lab.running())} training, {len(queued)} waiting.")
    if lab.notice:
        st.info(lab.notice)
    busy = busy_text()
    if busy and not snap.finished:
        st.warning(busy)
    n_active = len(lab.running()) + len(queued)
    before = st.session_state.get(ACTIVE_KEY, n_active)
    if n_active != before and (0 in (before, n_active)
                               or time.monotonic() - st.session_state.get(DRAWN_KEY, 0.0) >= PAGE_REDRAW_S):
        # a run ended or started elsewhere: rerun the page (lists, paper table, poll rate); a change left for
        # later keeps the old count here, so a later tick still sees it
        st.session_state[ACTIVE_KEY] = n_active
        st.rerun(scope="app")


def watch(lab, poll_s: float | None) -> None:
    """Draw the live view of the lab's runs, refreshed every ``poll_s`` seconds (None: only on page reruns)."""
    st.fragment(run_every=poll_s)(_watch_body)(lab)


def _runs_state(lab) -> tuple:
    """What says that runs started or ended, here or elsewhere (another tab, the CLI): three small queries."""
    store = lab.store
    return (store.finished_stamp(), store.count_status("running"), store.count_status("queued"),
            len(lab.running()), len(lab.queued()))


def _idle_body(lab, drawn: tuple) -> None:
    if _runs_state(lab) != drawn:
        st.rerun(scope="app")


def watch_for_runs(lab, poll_s: float) -> None:
    """While nothing trains: every ``poll_s`` seconds, rerun the page once a run started or ended elsewhere, and
    draw nothing otherwise. (Redrawing the live view at each look cost the server about 0.3 CPU-s and the browser
    0.5 for every tab left open on the Lab: a class's idle tabs would have kept the server's cores busy.)"""
    st.fragment(run_every=poll_s)(_idle_body)(lab, _runs_state(lab))


# ---------------------------------------------------------------------------------------- a comparison, live


def _text(v: float, fmt: str) -> str:
    return "—" if v is None or not math.isfinite(v) else format(v, fmt)


def _comparison_body(store, exp) -> None:
    summary = exp_results.experiment_summary(store, exp)
    rows = exp_results.table_rows(summary)
    pending = sum(r.pending for r in summary.rows)
    st.subheader("Final validation accuracy: mean and 95% interval over seeds")
    if pending:
        st.caption(f"{pending} run(s) of this comparison still queued or training: the table and charts fill in "
                   "as they finish.")
    st.dataframe(pd.DataFrame([{
        "configuration": r["configuration"], "mean (%)": _text(r["mean (%)"], ".2f"),
        "95% interval (%)": (f"{r['95% low (%)']:.2f} to {r['95% high (%)']:.2f}"
                             if math.isfinite(r["95% low (%)"]) else "—"),
        "seeds done": r["seeds done"], "pending": r["pending"], "failed/cancelled": r["failed/cancelled"],
        "wall time per run (s)": _text(r["wall time per run (s)"], ".1f"),
        "throughput (img/s)": _text(r["throughput (img/s)"], ",.0f"),
        "server load (per core)": _text(r["server load (per core)"], ".2f")} for r in rows]),
        hide_index=True, width="stretch", key="lab_cmp_table")
    design = (exp.form or {}).get("design") or {}
    if design.get("mode") == "sweep" and len(design.get("models", [])) > 1:  # the grid as combinations × models
        st.caption("The same cells as a grid: each trick combination (rows) on each model (columns), mean and 95% "
                   "interval over seeds.")
        st.dataframe(pd.DataFrame(sweep.cell_rows(summary, design)), hide_index=True, width="stretch",
                     key="lab_sweep_cells")
    note = exp_results.load_note(summary)
    (st.warning if note.startswith("The configurations ran under different") else st.caption)(note)
    cut = [r.accuracy for r in summary.rows if r.accuracy is not None and r.accuracy.clipped]
    if cut:
        st.caption("Intervals are Student-t intervals of the mean over seeds, cut at 0 or 100 where they reached "
                   "past what an accuracy can be (cutting there never removes the true mean).")
    if summary.differences:
        st.subheader("Difference against the baseline")
        if len(summary.differences) <= 3:
            for d in summary.differences:
                (st.success if d.significant else st.info)(d.verdict)
        else:  # a sweep: one box per cell would bury the table
            said = [f"{word}: {', '.join(names)}" for word in ("better", "worse")
                    for names in [[d.name_b for d in summary.differences if d.decision == word]] if names]
            st.info(f"{len(summary.differences)} configurations against the baseline {summary.rows[0].arm}: "
                    + ("; ".join(said) + "; the others" if said else "all") + " within noise or not decided yet. "
                    "Each one's verdict is in the table below.")
        st.dataframe(pd.DataFrame(exp_results.difference_rows(summary)), hide_index=True, width="stretch",
                     key="lab_diff_table", column_config={
                         "B − A (points)": st.column_config.NumberColumn(format="%+.2f")})
        st.caption("Paired t-test when both sides ran the same seeds (else Welch's); effect size: d_z for paired "
                   "seeds, Cohen's d otherwise. p ≥ 0.05 is reported as within noise; fewer than 3 seeds a side, "
                   "or no spread between seeds, decides nothing, and the verdict says so.")
        ds = summary.differences
        show_figure(figures.difference_figure(
            [f"{d.name_b} vs {d.name_a}" for d in ds], [d.diff for d in ds], [d.low for d in ds],
            [d.high for d in ds]), key="lab_diff_chart")
    elif any(r.values for r in summary.rows):
        st.info("Waiting for the other configurations to finish a run before a difference can be computed.")
    _seeds_needed(summary)
    c1, c2 = st.columns(2)
    if summary.bands:
        show_figure(figures.band_curves_figure(summary.bands), key="lab_band_chart", where=c1)
    done_rows = [r for r in summary.rows if r.accuracy is not None]
    if done_rows:
        show_figure(figures.comparison_figure(
            [r.arm for r in done_rows], [r.accuracy.mean for r in done_rows],
            [r.accuracy.half_width for r in done_rows], [list(r.values) for r in done_rows],
            lows=[r.accuracy.low for r in done_rows], highs=[r.accuracy.high for r in done_rows],
            bounds=exp_results.PERCENT), key="lab_bar_chart", where=c2)


def _seeds_needed(summary) -> None:
    """How many seeds an effect of a chosen size needs at the spread this comparison measured (power of the
    two-sample t-test, :mod:`vizcore.lab.power`)."""
    arms = [list(r.values) for r in summary.rows if len(r.values) >= 2]
    if not arms:
        return
    st.subheader("How many seeds would an effect need?")
    effect = st.number_input("Effect to find (accuracy points)", 0.05, 50.0, 0.5, 0.05, key="lab_power_effect",
                             help="the size of a difference you want to find 80% of the time at α = 0.05")
    sd = power.measured_spread(arms[0], arms[1]) if len(arms) > 1 else power.measured_spread(arms[0])
    if not sd > 0:
        st.caption("The seeds agree exactly so far: no spread to plan with yet.")
        return
    n = min(len(a) for a in arms)
    st.info("At this comparison's seed-to-seed spread, " + power.estimate(sd, float(effect), n=n).text())


def comparison(store, exp, poll_s: float | None) -> None:
    """Draw a comparison's table, verdicts and charts, refreshed every ``poll_s`` seconds while its runs train
    (None: only on page reruns), so results appear without touching anything."""
    st.fragment(run_every=poll_s)(_comparison_body)(store, exp)
