"""Training Lab: launch small training runs live, watch them, and compare tricks with honest statistics.

A short story: set up a run (tricks grouped as in the Bag of Tricks paper) -> watch it -> queue an A/B or a
small grid over seeds -> compare (mean ± 95% interval, significance) -> paper vs measured -> manage runs ->
the shape-vs-texture experiment. Runs belong to the process-wide lab, not to this tab.
"""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import math
import os

import pandas as pd
import streamlit as st

from pages._common import CHECKPOINT_KEY, said, user_errors
from pages._lab_form import config_form, restore
from pages._lab_live import ACTIVE_KEY, comparison, follow, watch
from pages._lab_sweep import restore_sweep, sweep_builder
from pages._nav import page_link
from vizcore.core import paths
from vizcore.figures import training as figures
from vizcore.lab import experiment as vexp
from vizcore.lab import history, reference
from vizcore.lab import results as exp_results
from vizcore.lab.queue import Lab, get_lab
from vizcore.train import config as train_config
from vizcore.train import schedule as lr_sched
from vizcore.train.timing import format_range

through_app()  # a fresh server's first deep links rerun through app.py's navigation

POLL_S = 1.0  # seconds between live updates while something trains
IDLE_POLL_S = 5.0  # seconds between checks for runs started elsewhere (another tab, the CLI)


@st.cache_resource(show_spinner=False)
def _lab(data_dir: str) -> Lab:
    """One lab per data directory for the whole server process: every tab and every reload sees the same runs."""
    return get_lab()


@st.cache_data(show_spinner=False, max_entries=128)
def _shape_bias_cached(checkpoint: str, mtime: float):
    from vizcore.inspect.shape_bias import shape_bias_of_checkpoint

    return shape_bias_of_checkpoint(checkpoint)


def _shape_bias(checkpoint: str):
    """Shape bias of a checkpoint, cached on its path and modification time (a rerun retrains nothing)."""
    return _shape_bias_cached(checkpoint, os.path.getmtime(checkpoint))


def _estimate(config: train_config.TrainConfig) -> str:
    """How long one run takes here, in words: a range and where it comes from (the store's finished runs of
    this configuration or this model, else a short calibration; :func:`vizcore.lab.history.estimate`)."""
    with st.spinner("Estimating from the runs that finished on this machine…"):
        est = history.estimate(config)
    assert est is not None  # calibrate=True always gives one
    return f"{format_range(est.low, est.high)} per run ({est.detail})"


def _plan_estimate(configs: tuple[train_config.TrainConfig, ...]) -> str:
    """How long a comparison's runs take one after another, as a range in words."""
    with st.spinner("Estimating from the runs that finished on this machine…"):
        est = history.estimate_plan(configs)
    assert est is not None  # calibrate=True always gives one
    return format_range(est.low, est.high)


IN_FLIGHT_KEY = "lab_in_flight"  # the comparison in flight when this session first drew the page (or None)


def _in_flight(experiments: list, runs: list) -> vexp.Experiment | None:
    """The newest comparison with runs still queued or training."""
    status = {r.id: r.status for r in runs}
    return next((e for e in experiments if any(status.get(r["run_id"]) in ("queued", "running") for r in e.runs)),
                None)


def _restore_design(design: dict) -> None:
    """An A/B's or grid's design back into section 3's widgets (before they are drawn)."""
    st.session_state["lab_cmp_mode"] = design.get("mode", "A/B")
    tricks = [t for t in design.get("tricks", []) if t in vexp.TRICKS]
    if st.session_state["lab_cmp_mode"] == "A/B" and tricks:
        st.session_state["lab_cmp_trick"] = tricks[0]
    elif tricks:
        st.session_state["lab_cmp_tricks"] = tricks
    st.session_state["lab_n_seeds"] = int(design.get("n_seeds", vexp.DEFAULT_SEEDS))
    st.session_state["lab_first_seed"] = int(design.get("first_seed", 0))


def _show_in_flight(experiments: list, runs: list) -> None:
    """A new session (a reload, a second tab) while a comparison trains shows it as it was queued: its base
    configuration in the form, its design in section 3, its results below. Later comparisons queued elsewhere
    never overwrite a form this session is editing."""
    if IN_FLIGHT_KEY not in st.session_state:
        flight = _in_flight(experiments, runs)
        st.session_state[IN_FLIGHT_KEY] = flight.id if flight is not None and flight.form else None
        if flight is not None and flight.form:
            with said("Could not show the comparison in flight as it was queued: "):
                restore(train_config.TrainConfig.from_dict(flight.form["base"]))
                design = flight.form.get("design", {})
                if design.get("mode") == "sweep":
                    restore_sweep(design)
                else:
                    _restore_design(design)
                st.session_state["lab_experiment"] = flight.id
    shown = st.session_state.get(IN_FLIGHT_KEY)
    flight = next((e for e in experiments if e.id == shown), None)
    if flight is not None and _in_flight([flight], runs) is not None:
        st.info(f"**{flight.name}** is training ({len(flight.runs)} runs): the form shows its base configuration "
                "and section 3 its design, as they were queued; its results fill in below as runs finish.")


st.title("Training Lab")
st.markdown(
    "Train small CNNs here and compare the tricks of *Bag of Tricks for Image Classification* (He et al., "
    "CVPR 2019) yourself. A gain of a few tenths of a point from **one** seed says nothing: the lab repeats "
    "each configuration over several seeds and tells you when a difference is within noise."
)
lab = _lab(str(paths.data_dir()))
store = lab.store

# ---------------------------------------------------------------------------------------- 1. set up
st.header("1 · Set up a run")
all_runs = store.list()  # read once per rerun; sections 1, 3 and 5 use it
experiments = [e for e in vexp.list_experiments() if e.kind == "compare"]
_show_in_flight(experiments, all_runs)
finished_with_ckpt = [r for r in all_runs if r.status == "done" and r.checkpoint]
run_label = {r.id: f"{r.name} ({r.config.model}, {100 * (r.val_acc or 0):.1f}%)" for r in finished_with_ckpt}
config = config_form(run_label)
if config is None:
    st.stop()

spe = config.steps_per_epoch()
lrs = lr_sched.lr_schedule(config, spe)
warm = int(round(config.warmup_epochs * spe))
st.plotly_chart(figures.lr_schedule_figure(
    lrs, spe, warm, title=f"Learning-rate schedule: {config.schedule}"
    + (f" with {config.warmup_epochs:g} epoch(s) of warmup" if warm else "")), key="lab_lr_preview")
try:
    est_text = _estimate(config)
except ValueError as exc:  # e.g. an image size the model cannot take: said here, and again if started
    est_text = f"no time estimate: {exc}"
st.caption(f"Peak LR {config.effective_lr:.4g} · {spe} steps per epoch · {len(lrs)} steps in all · {est_text}")
if len(lrs) < exp_results.MIN_STEPS:
    st.warning(f"{len(lrs)} optimizer step{'s' if len(lrs) != 1 else ''} in all ({config.train_size} training images "
               f"at batch {config.batch_size}, {config.epochs} epoch{'s' if config.epochs != 1 else ''}): too few for the "
               "network to learn much. Use more training images, a smaller batch or more epochs.")

c1, c2 = st.columns([1, 3])
run_name = c2.text_input("Run name (optional)", "", key="lab_run_name", label_visibility="collapsed",
                         placeholder="Run name (optional)")
if c1.button("Start run", type="primary", key="lab_start"):
    with said("Not started: "):
        rid = lab.submit(config, name=run_name or None)
        follow(rid)
        st.toast(f"Queued run {rid}")
        all_runs = store.list()  # the Runs section below shows the new run in this same rerun

# ---------------------------------------------------------------------------------------- 2. watch
st.header("2 · Watch")
active = lab.running() + lab.queued()
st.session_state[ACTIVE_KEY] = len(active)
# Poll fast while something trains here; slowly otherwise, so runs started from another tab still show up.
watch(lab, POLL_S if active else IDLE_POLL_S)

# ---------------------------------------------------------------------------------------- 3. compare
st.header("3 · Compare tricks over seeds")
st.markdown("Queue the configuration above with one trick toggled (**A/B**) or every combination of up to three "
            "tricks (**grid**), each repeated over the same seeds. Runs go one after another through the lab's "
            "queue; the table fills in as they finish.")
trick_keys = list(vexp.TRICKS)
c1, c2, c3, c4 = st.columns([1.2, 2, 1, 1])
for key, default in (("lab_cmp_mode", "A/B"), ("lab_cmp_trick", "cosine"), ("lab_cmp_tricks", ["cosine", "label_smoothing"]),
                     ("lab_n_seeds", vexp.DEFAULT_SEEDS), ("lab_first_seed", 0)):
    st.session_state.setdefault(key, default)  # the widgets take their values from here (a comparison in flight
    # may have put its design here): a default given to the widget as well would be a second, conflicting one
mode = c1.radio("Design", ["A/B", "grid"], key="lab_cmp_mode", horizontal=True)
if mode == "A/B":
    chosen = [c2.selectbox("Trick to toggle", trick_keys, key="lab_cmp_trick",
                           format_func=lambda k: f"{vexp.TRICKS[k].label} · {vexp.TRICKS[k].group}")]
else:
    chosen = c2.multiselect("Tricks (up to 3)", trick_keys, max_selections=3, key="lab_cmp_tricks",
                            format_func=lambda k: vexp.TRICKS[k].label)
n_seeds = c3.number_input("Seeds per config", 1, vexp.MAX_SEEDS, key="lab_n_seeds")
first_seed = c4.number_input("First seed", 0, 10_000, key="lab_first_seed")
plan = None
with said("Cannot plan this comparison: "):
    if chosen:
        plan = (vexp.plan_ab(config, chosen[0], int(n_seeds), int(first_seed)) if mode == "A/B"
                else vexp.plan_grid(config, chosen, int(n_seeds), int(first_seed)))
if plan is not None:
    n_runs = len(plan.runs())
    for w in exp_results.plan_warnings(plan):  # before queueing: settings too small to mean anything
        st.warning(w)
    est_words = "time unknown"
    with said("No time estimate: "):
        est_words = _plan_estimate(tuple(cfg for _, _, cfg in plan.runs()))
    if st.button(f"Queue {n_runs} runs ({len(plan.arms)} configs × {len(plan.seeds)} seeds, {est_words} in all)",
                 key="lab_queue"):
        with said("Not queued: "):
            exp = vexp.submit_plan(lab, plan, form={"base": config.to_dict(), "design": {
                "mode": mode, "tricks": list(chosen), "n_seeds": int(n_seeds), "first_seed": int(first_seed)}})
            experiments.insert(0, exp)
            st.session_state["lab_experiment"] = exp.id
            follow(exp.runs[0]["run_id"])  # the live view above moves to it on the rerun
            st.rerun()
sweep_builder(lab, config)  # tricks × models × seeds, queued as one comparison

if not experiments:
    st.info("No comparison yet. Queue one above: the default A/B is cosine vs step decay, 3 seeds each; the "
            "button says how long its runs take on this machine.")
else:
    exp_ids = [e.id for e in experiments]
    want = st.session_state.get("lab_experiment")
    if want in exp_ids and st.session_state.get("lab_exp_shown") != want:  # a new comparison: show it
        st.session_state["lab_exp_select"] = want
    st.session_state["lab_exp_shown"] = want
    if st.session_state.get("lab_exp_select") not in exp_ids:
        st.session_state["lab_exp_select"] = exp_ids[0]
    names = {e.id: f"{e.name} · {len(e.runs)} runs · #{e.id}" for e in experiments}
    exp_id = st.selectbox("Comparison", exp_ids, key="lab_exp_select", format_func=names.get)
    exp = vexp.get_experiment(exp_id)
    status = {r.id: r.status for r in all_runs}
    pending = any(status.get(r["run_id"]) in ("queued", "running") for r in exp.runs)
    comparison(store, exp, POLL_S if pending else None)

# ---------------------------------------------------------------------------------------- 4. paper vs measured
st.header("4 · Paper says vs you measured")
st.caption(reference.SCALE_NOTE)
measured = exp_results.measured_deltas(store, experiments)  # trick reference -> its newest A/B's Difference
published = reference.published_deltas()
shown = [d for d in published if d.trick in {t.reference for t in vexp.TRICKS.values()}]
st.plotly_chart(figures.paper_vs_measured_figure(
    [d.label for d in shown], [d.delta for d in shown],
    [measured[d.trick].diff if d.trick in measured else None for d in shown],
    [measured[d.trick].half_width if d.trick in measured else math.nan for d in shown]), key="lab_paper_chart")


def _here(d) -> tuple[str, str, str]:
    """(measured B − A, its 95% interval, the verdict) of a Difference, in words where a number would mislead."""
    if d is None:
        return "not measured yet", "", ""
    why = {"can't tell": "one seed a side", "no variation": "no spread between seeds"}.get(d.decision)
    return (f"{d.diff:+.2f}", why or f"{d.low:+.2f} to {d.high:+.2f}", d.decision)


st.dataframe(pd.DataFrame([{
    "trick": d.label, "table": d.table, "column": d.column, "added to": d.baseline_row,
    "paper (points)": f"{d.delta:+.2f}", "figures": d.status, **dict(zip(("measured here (points)", "95% interval here", "verdict here"),
                                                    _here(measured.get(d.trick))))} for d in published]),
    hide_index=True, width="stretch", key="lab_paper_table")
st.caption("Source: He, Zhang, Zhang, Zhang, Xie, Li, *Bag of Tricks for Image Classification with Convolutional "
           "Neural Networks*, CVPR 2019 (arXiv:1812.01187) — the deltas are differences between consecutive rows of "
           "its Tables 4 (efficient training, ResNet-50), 5 (ResNet-50 tweaks) and 6 (training refinements); each "
           "row above names its table. ImageNet scale: top-1 validation accuracy after training on 1.28 M images "
           "of 1000 classes. Every figure, Table 1's included, was checked against the paper's tables; Table 6's "
           "ResNet-50-D column gives means over repeated runs.")

# ---------------------------------------------------------------------------------------- 5. runs
st.header("5 · Runs")
for bad in store.damaged_runs():  # one unreadable record must not hide the others: say which, and offer a way out
    w1, w2 = st.columns([5, 1])
    w1.warning(f"Run {bad.name} (#{bad.id}) cannot be shown: its stored record is damaged ({bad.reason}). "
               f"Delete it here, or export what is left with `python -m vizcore runs --export {bad.id}`.")
    if w2.button("Delete this record", key=f"lab_delete_damaged_{bad.id}"):
        with user_errors("Could not delete it: "):
            store.delete(bad.id)
        st.rerun()
if not all_runs:
    st.info("Runs you start appear here: rename, delete, export, or open one in the other pages.")
else:
    # fixed widths that add up to less than the page's width: every column shows whole ("cancelled", not
    # "cancell"), and the long ones (group, message) are cut with an ellipsis, their full text on hover
    st.dataframe(pd.DataFrame([{
        "name": r.name, "status": r.status, "val acc (%)": "—" if r.val_acc is None else f"{100 * r.val_acc:.1f}",
        "epochs": f"{r.epochs_done}/{r.config.epochs}", "model · data": f"{r.config.model} · {r.config.dataset}",
        "group": r.group or "", "message": r.message, "ran on": str(r.info.get("worker") or ""), "id": r.id}
        for r in all_runs]), hide_index=True, key="lab_runs_table", width="stretch", column_config={
            # together no wider than the page's main area at 1400 px (a column cut off at the right is unreadable)
            "name": st.column_config.TextColumn(width=150), "status": st.column_config.TextColumn(width=80),
            "val acc (%)": st.column_config.TextColumn(width=75), "epochs": st.column_config.TextColumn(width=55),
            "model · data": st.column_config.TextColumn(width=130), "group": st.column_config.TextColumn(width=100),
            "message": st.column_config.TextColumn(width=150), "ran on": st.column_config.TextColumn(width=90),
            "id": st.column_config.TextColumn(width=100)})
    by_id = {r.id: r for r in all_runs}
    rid = st.selectbox("Run", list(by_id), key="lab_manage_select",
                       format_func=lambda i: f"{by_id[i].name} · #{i}")
    rec = by_id[rid]
    c1, c2, c3, c4 = st.columns(4)
    new_name = c1.text_input("New name", rec.name, key=f"lab_rename_{rid}")
    if c1.button("Rename", key="lab_rename"):
        with said("Not renamed: "):
            store.rename(rid, new_name)
            st.rerun()
    if rec.config.augment_pipeline:
        with st.expander("Augmentation pipeline of this run"):
            from vizcore.data.pipeline import Pipeline

            st.markdown("\n".join(f"{k + 1}. {s.label()}" for k, s in
                                   enumerate(Pipeline.from_json(rec.config.augment_pipeline).steps)))
    # made when pressed, not on every rerun: a file made per rerun of this live page was replaced while the browser
    # still pointed at it ("Download Button source error - 404"), and the export read the store each time
    c2.download_button("Config (JSON)", lambda: store.export(rid)[0], f"run_{rid}_config.json", "application/json",
                       key="lab_dl_json")
    c2.download_button("Metrics (CSV)", lambda: store.export(rid)[1], f"run_{rid}_metrics.csv", "text/csv",
                       key="lab_dl_csv")
    confirm = c3.checkbox("Yes, delete it", key=f"lab_confirm_delete_{rid}")
    if c3.button("Delete run", disabled=not confirm, key="lab_delete"):
        with said("Not deleted: "):
            store.delete(rid)
            st.rerun()
    if rec.checkpoint and rec.status in ("done", "cancelled", "diverged") and rec.epochs_done:
        if c4.button("Open in other pages", key="lab_open"):
            st.session_state[CHECKPOINT_KEY] = rec.checkpoint
        if st.session_state.get(CHECKPOINT_KEY) == rec.checkpoint:
            c4.success("Selected for this browser session: the Receptive Field page now shows this run's model "
                       "with its trained weights (effective receptive field, feature maps).")
            page_link(c4, "pages/receptive_field.py", "Open the Receptive Field page", ":material/center_focus_strong:")
    else:
        c4.caption("No checkpoint to open: the run has not completed an epoch.")

# ---------------------------------------------------------------------------------------- 6. shape vs texture
st.header("6 · Shape or texture?")
st.markdown(
    "Geirhos et al. (ICLR 2019) found ImageNet CNNs decide by **texture** more than by shape. The embedded shapes "
    "give each class a typical fill texture, so a network can learn either cue. Train on shapes, then show it "
    "*cue-conflict* images — the outline of one class filled with another class's texture — and count which cue "
    "wins. **Shape bias** = shape decisions / (shape + texture decisions). Compare plain training with heavier "
    "augmentation (TrivialAugment)."
)
c1, c2 = st.columns([1, 3])
sb_seeds = c1.number_input("Seeds per config", 1, vexp.MAX_SEEDS, vexp.DEFAULT_SEEDS, key="lab_sb_seeds")
with user_errors("Cannot plan the shape-vs-texture runs: "):
    sb_plan = vexp.plan_shape_texture(config, int(sb_seeds))
if c2.button(f"Queue {len(sb_plan.runs())} runs on shapes (plain vs heavy augmentation)", key="lab_sb_queue"):
    with user_errors("Not queued: "):
        exp = vexp.submit_plan(lab, sb_plan, kind="shape_bias")
        st.session_state["lab_sb_experiment"] = exp.id
        st.rerun()
sb_exps = [e for e in vexp.list_experiments() if e.kind == "shape_bias"]
if sb_exps:
    e = sb_exps[0] if st.session_state.get("lab_sb_experiment") not in [x.id for x in sb_exps] else \
        vexp.get_experiment(st.session_state["lab_sb_experiment"])
    with user_errors("Shape bias not measured: "):
        sb_rows, waiting = exp_results.shape_bias_rows(store, e, _shape_bias)
    if waiting:
        st.caption(f"{waiting} run(s) of this experiment still training; results appear as they finish.")
    if sb_rows:
        st.plotly_chart(figures.shape_bias_figure(
            [f"{r.arm} · seed {r.seed} (val {r.val_acc:.0f}%)" for r in sb_rows], [r.shape for r in sb_rows],
            [r.texture for r in sb_rows], [r.other for r in sb_rows]), key="lab_sb_chart")
        weak = [r for r in sb_rows if r.val_acc < 50]
        if weak:
            st.warning(f"{len(weak)} of these runs reached under 50% validation accuracy: a model that has not "
                       "learned the shapes set yet decides by neither cue, and its shape bias says little. "
                       "Train longer or on more images.")
        d = exp_results.shape_bias_difference(sb_rows, e.arms)
        if d is not None:
            st.markdown(f"**Shape bias (%)** — {d.name_a}: {d.a.text(1)} · {d.name_b}: {d.b.text(1)}")
            (st.success if d.significant else st.info)(d.verdict)
else:
    st.caption("No shape-vs-texture runs yet.")
