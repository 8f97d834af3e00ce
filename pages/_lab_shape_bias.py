"""The Training Lab's shape-vs-texture experiment (Geirhos et al., ICLR 2019): plain and heavily augmented runs on
the embedded shapes, then their decisions on cue-conflict images counted as shape, texture or neither."""
from __future__ import annotations

import os

import streamlit as st

from pages._common import show_figure, user_errors
from vizcore.figures import training as figures
from vizcore.lab import experiment as vexp
from vizcore.lab import results as exp_results
from vizcore.lab.queue import Lab
from vizcore.lab.store import RunStore
from vizcore.train.config import TrainConfig


@st.cache_data(show_spinner=False, max_entries=128)
def _shape_bias_cached(checkpoint: str, mtime: float):
    from vizcore.inspect.shape_bias import shape_bias_of_checkpoint

    return shape_bias_of_checkpoint(checkpoint)


def _shape_bias(checkpoint: str):
    """Shape bias of a checkpoint, cached on its path and modification time (a rerun retrains nothing)."""
    return _shape_bias_cached(checkpoint, os.path.getmtime(checkpoint))


def shape_bias_section(lab: Lab, store: RunStore, config: TrainConfig) -> None:
    """Section 6 of the Training Lab: queue the experiment from the form's configuration, show its result."""
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
            show_figure(figures.shape_bias_figure(
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
