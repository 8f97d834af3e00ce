"""Training Lab: launch small training runs live, watch them, and compare tricks with honest statistics.

A short story: set up a run (tricks grouped as in the Bag of Tricks paper) -> watch it -> queue an A/B or a
small grid over seeds -> compare (mean ± 95% interval, significance) -> paper vs measured -> manage runs ->
the shape-vs-texture experiment. Runs belong to the process-wide lab, not to this tab.
"""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import math
import time

import pandas as pd
import streamlit as st

from pages._common import (
    bound,
    keep,
    put_back,
    said,
    show_figure,
    view_link,
    words,
)
from pages._lab_form import config_form, restore
from pages._lab_live import ACTIVE_KEY, DRAWN_KEY, comparison, follow, watch, watch_for_runs
from pages._lab_runs import runs_section
from pages._lab_shape_bias import shape_bias_section
from pages._lab_sweep import restore_sweep, sweep_builder
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

POLL_S = 2.0  # seconds between live updates while something trains (each redraws charts in every open tab)
IDLE_POLL_S = 5.0  # seconds between checks for runs started elsewhere (another tab, the CLI)


@st.cache_resource(show_spinner=False)
def _lab(data_dir: str) -> Lab:
    """One lab per data directory for the whole server process: every tab and every reload sees the same runs."""
    return get_lab()


def _estimate(config: train_config.TrainConfig) -> str:
    """How long one run takes here, in words: a range and where it comes from (the store's finished runs of
    this configuration or this model, else a short calibration; :func:`vizcore.lab.history.estimate`)."""
    with st.spinner("Estimating from the runs that finished on this machine…"):
        est = history.estimate(config)
    assert est is not None  # calibrate=True always gives one
    return f"{format_range(est.low, est.high)} per run ({est.detail})"


def _plan_estimate(configs: tuple[train_config.TrainConfig, ...]) -> str:
    """How long a comparison's runs take in the Lab's queue (as many at once as it trains), as a range in words."""
    with st.spinner("Estimating from the runs that finished on this machine…"):
        est = history.estimate_plan(configs)
    assert est is not None  # calibrate=True always gives one
    at_once = min(history.runs_at_once(), len(configs))
    return format_range(est.low, est.high) + (" in all" if at_once == 1 else f" in all, {at_once} at a time")


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


def setup_section(lab: Lab, all_runs: list) -> train_config.TrainConfig:
    """Section 1: the run's configuration (stops the page while the form is invalid), its learning-rate schedule and
    time estimate, and the button that queues it."""
    st.header("1 · Set up a run")
    finished_with_ckpt = [r for r in all_runs if r.status == "done" and r.checkpoint]
    run_label = {r.id: f"{r.name} ({r.config.model}, {100 * (r.val_acc or 0):.1f}%)" for r in finished_with_ckpt}
    config = config_form(run_label)
    if config is None:
        view_link()
        st.stop()
    spe = config.steps_per_epoch()
    lrs = lr_sched.lr_schedule(config, spe)
    warm = int(round(config.warmup_epochs * spe))
    show_figure(figures.lr_schedule_figure(
        lrs, spe, warm, title=f"Learning-rate schedule: {config.schedule}"
        + (f" with {config.warmup_epochs:g} epoch(s) of warmup" if warm else "")), key="lab_lr_preview")
    try:
        est_text = _estimate(config)
    except ValueError as exc:  # e.g. an image size the model cannot take: said here, and again if started
        est_text = f"no time estimate: {exc}"
    st.caption(f"Peak LR {config.effective_lr:.4g} · {spe} steps per epoch · {len(lrs)} steps in all · {est_text}")
    if len(lrs) < exp_results.MIN_STEPS:
        st.warning(f"{len(lrs)} optimizer step{'s' if len(lrs) != 1 else ''} in all ({config.train_size} training "
                   f"images at batch {config.batch_size}, {config.epochs} epoch{'s' if config.epochs != 1 else ''}): "
                   "too few for the network to learn much. Use more training images, a smaller batch or more epochs.")
    c1, c2 = st.columns([1, 3])
    run_name = c2.text_input("Run name (optional)", "", key="lab_run_name", label_visibility="collapsed",
                             placeholder="Run name (optional)")
    if c1.button("Start run", type="primary", key="lab_start"):
        with said("Not started: "):
            rid = lab.submit(config, name=run_name or None)
            follow(rid)
            st.toast(f"Queued run {rid}")
    return config


def watch_section(lab: Lab) -> None:
    """Section 2: the live view of the run this session follows."""
    st.header("2 · Watch")
    active = lab.running() + lab.queued()
    st.session_state[ACTIVE_KEY] = len(active)
    st.session_state[DRAWN_KEY] = time.monotonic()
    # Redrawn often while something trains here, now and then while runs train elsewhere (the CLI, another
    # server); with nothing training anywhere, only looked at now and then (drawing nothing), so that runs started
    # from another tab or the CLI still show up.
    elsewhere = lab.store.count_status("running") + lab.store.count_status("queued")
    watch(lab, POLL_S if active else IDLE_POLL_S if elsewhere else None)
    if not active and not elsewhere:
        watch_for_runs(lab, IDLE_POLL_S)


DESIGN_KEYS = ("lab_cmp_mode", "lab_cmp_trick", "lab_cmp_tricks", "lab_n_seeds", "lab_first_seed")


def _design_widgets() -> tuple[str, list[str], int, int]:
    """Section 3's design: (mode, chosen tricks, seeds per config, first seed)."""
    trick_keys = list(vexp.TRICKS)
    c1, c2, c3, c4 = st.columns([1.2, 2, 1, 1])
    put_back("lab_design", DESIGN_KEYS)  # as this session last drew it, on this or another visit of the page
    for key, default in (("lab_cmp_mode", "A/B"), ("lab_cmp_trick", "cosine"),
                         ("lab_cmp_tricks", ["cosine", "label_smoothing"]),
                         ("lab_n_seeds", vexp.DEFAULT_SEEDS), ("lab_first_seed", 0)):
        st.session_state.setdefault(key, default)  # the widgets take their values from here (a comparison in flight
        # may have put its design here): a default given to the widget as well would be a second, conflicting one
    bound("lab_cmp_mode", "A/B", options=words(["A/B", "grid"]))
    bound("lab_cmp_trick", "cosine", options=trick_keys)
    bound("lab_cmp_tricks", ["cosine", "label_smoothing"], options=trick_keys, many=True, most=3)
    bound("lab_n_seeds", vexp.DEFAULT_SEEDS, lo=1, hi=vexp.MAX_SEEDS)
    bound("lab_first_seed", 0, lo=0, hi=10_000)
    mode = c1.radio("Design", ["A/B", "grid"], key="lab_cmp_mode", horizontal=True)
    if mode == "A/B":
        chosen = [c2.selectbox("Trick to toggle", trick_keys, key="lab_cmp_trick",
                               format_func=lambda k: f"{vexp.TRICKS[k].label} · {vexp.TRICKS[k].group}")]
    else:
        chosen = c2.multiselect("Tricks (up to 3)", trick_keys, max_selections=3, key="lab_cmp_tricks",
                                format_func=lambda k: vexp.TRICKS[k].label)
    n_seeds = c3.number_input("Seeds per config", 1, vexp.MAX_SEEDS, key="lab_n_seeds")
    first_seed = c4.number_input("First seed", 0, 10_000, key="lab_first_seed")
    keep("lab_design", DESIGN_KEYS)
    return mode, chosen, int(n_seeds), int(first_seed)


def _queue_button(lab: Lab, config: train_config.TrainConfig, experiments: list) -> None:
    """Plan section 3's design on the form's configuration, say what it costs, and queue it when pressed."""
    mode, chosen, n_seeds, first_seed = _design_widgets()
    plan = None
    with said("Cannot plan this comparison: "):
        if chosen:
            plan = (vexp.plan_ab(config, chosen[0], n_seeds, first_seed) if mode == "A/B"
                    else vexp.plan_grid(config, chosen, n_seeds, first_seed))
    if plan is None:
        return
    for w in exp_results.plan_warnings(plan):  # before queueing: settings too small to mean anything
        st.warning(w)
    est_words = "time unknown"
    with said("No time estimate: "):
        est_words = _plan_estimate(tuple(cfg for _, _, cfg in plan.runs()))
    if st.button(f"Queue {len(plan.runs())} runs ({len(plan.arms)} configs × {len(plan.seeds)} seeds, {est_words})",
                 key="lab_queue"):
        with said("Not queued: "):
            exp = vexp.submit_plan(lab, plan, form={"base": config.to_dict(), "design": {
                "mode": mode, "tricks": list(chosen), "n_seeds": n_seeds, "first_seed": first_seed}})
            experiments.insert(0, exp)
            st.session_state["lab_experiment"] = exp.id
            follow(exp.runs[0]["run_id"])  # the live view above moves to it on the rerun
            st.rerun()


def compare_section(lab: Lab, config: train_config.TrainConfig, experiments: list, all_runs: list) -> None:
    """Section 3: queue an A/B, a grid or a sweep over seeds, then the chosen comparison's results."""
    st.header("3 · Compare tricks over seeds")
    st.markdown("Queue the configuration above with one trick toggled (**A/B**) or every combination of up to three "
                "tricks (**grid**), each repeated over the same seeds. Runs go through the lab's queue, as many at "
                "once as it has workers; the table fills in as they finish.")
    _queue_button(lab, config, experiments)
    sweep_builder(lab, config)  # tricks × models × seeds, queued as one comparison
    if not experiments:
        st.info("No comparison yet. Queue one above: the default A/B is cosine vs step decay, 3 seeds each; the "
                "button says how long its runs take on this machine.")
        return
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
    comparison(lab.store, exp, POLL_S if pending else None)


def _here(d) -> tuple[str, str, str]:
    """(measured B − A, its 95% interval, the verdict) of a Difference, in words where a number would mislead."""
    if d is None:
        return "not measured yet", "", ""
    why = {"can't tell": "one seed a side", "no variation": "no spread between seeds"}.get(d.decision)
    return (f"{d.diff:+.2f}", why or f"{d.low:+.2f} to {d.high:+.2f}", d.decision)


def paper_section(store, experiments: list) -> None:
    """Section 4: the paper's deltas beside this machine's newest A/B of each trick."""
    st.header("4 · Paper says vs you measured")
    st.caption(reference.SCALE_NOTE)
    measured = exp_results.measured_deltas(store, experiments)  # trick reference -> its newest A/B's Difference
    published = reference.published_deltas()
    shown = [d for d in published if d.trick in {t.reference for t in vexp.TRICKS.values()}]
    show_figure(figures.paper_vs_measured_figure(
        [d.label for d in shown], [d.delta for d in shown],
        [measured[d.trick].diff if d.trick in measured else None for d in shown],
        [measured[d.trick].half_width if d.trick in measured else math.nan for d in shown]), key="lab_paper_chart")
    here_cols = ("measured here (points)", "95% interval here", "verdict here")
    st.dataframe(pd.DataFrame([{
        "trick": d.label, "table": d.table, "column": d.column, "added to": d.baseline_row,
        "paper (points)": f"{d.delta:+.2f}", "figures": d.status,
        **dict(zip(here_cols, _here(measured.get(d.trick)), strict=True))} for d in published]),
        hide_index=True, width="stretch", key="lab_paper_table")
    st.caption("Source: He, Zhang, Zhang, Zhang, Xie, Li, *Bag of Tricks for Image Classification with Convolutional "
               "Neural Networks*, CVPR 2019 (arXiv:1812.01187) — the deltas are differences between consecutive rows "
               "of its Tables 4 (efficient training, ResNet-50), 5 (ResNet-50 tweaks) and 6 (training refinements); "
               "each row above names its table. ImageNet scale: top-1 validation accuracy after training on 1.28 M "
               "images of 1000 classes. Every figure, Table 1's included, was checked against the paper's tables; "
               "Table 6's ResNet-50-D column gives means over repeated runs.")


st.title("Training Lab")
st.markdown(
    "Train small CNNs here and compare the tricks of *Bag of Tricks for Image Classification* (He et al., "
    "CVPR 2019) yourself. A gain of a few tenths of a point from **one** seed says nothing: the lab repeats "
    "each configuration over several seeds and tells you when a difference is within noise."
)
lab = _lab(str(paths.data_dir()))
experiments = [e for e in vexp.list_experiments() if e.kind == "compare"]
stored = lab.store.list()
_show_in_flight(experiments, stored)
config = setup_section(lab, stored)
watch_section(lab)
all_runs = lab.store.list()  # read after section 1, whose button may have queued a run the sections below show
compare_section(lab, config, experiments, all_runs)
paper_section(lab.store, experiments)
runs_section(lab.store, all_runs)
shape_bias_section(lab, lab.store, config)
view_link()
