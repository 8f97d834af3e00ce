"""The Training Lab's sweep builder: the form's configuration as a grid of tricks × models × seeds
(:mod:`vizcore.lab.sweep`), its size and time shown before anything runs, queued in one press as one comparison.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from pages._common import said
from pages._lab_form import models
from pages._lab_live import follow
from vizcore.lab import experiment as vexp
from vizcore.lab import results as exp_results
from vizcore.lab import sweep as vsweep
from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig

OPEN_KEY = "lab_sweep_open"
TRICKS_KEY = "lab_sweep_tricks"
MODELS_KEY = "lab_sweep_models"
SEEDS_KEY = "lab_sweep_seeds"


def restore_sweep(design: dict[str, Any]) -> None:
    """Put a stored sweep's design into the builder, open; call before the builder is drawn in this script run."""
    st.session_state[OPEN_KEY] = True
    st.session_state[TRICKS_KEY] = [t for t in design.get("tricks", []) if t in vexp.TRICKS][: vsweep.MAX_TRICKS]
    known = set(models())
    st.session_state[MODELS_KEY] = [m for m in design.get("models", []) if m in known][: vsweep.MAX_MODELS]
    st.session_state[SEEDS_KEY] = min(max(int(design.get("n_seeds", vexp.DEFAULT_SEEDS)), 1), vexp.MAX_SEEDS)


def sweep_builder(lab: Any, config: TrainConfig) -> None:
    """Draw the builder under a toggle (closed, it estimates nothing); queue the sweep on its button and show it
    as the comparison below (a rerun)."""
    if not st.toggle("Sweep: tricks × models × seeds in one go", key=OPEN_KEY,
                     help="every on/off combination of a few tricks on each of a few models, each over the same "
                          f"seeds; at most {vsweep.MAX_CELLS} configurations and {vsweep.MAX_RUNS} runs"):
        return
    st.session_state.setdefault(TRICKS_KEY, ["cosine", "label_smoothing"])
    st.session_state.setdefault(MODELS_KEY, [])
    st.session_state.setdefault(SEEDS_KEY, vexp.DEFAULT_SEEDS)
    c1, c2, c3 = st.columns([2, 2, 1])
    tricks = c1.multiselect(f"Tricks, each on and off (up to {vsweep.MAX_TRICKS})", list(vexp.TRICKS),
                            max_selections=vsweep.MAX_TRICKS, key=TRICKS_KEY,
                            format_func=lambda k: vexp.TRICKS[k].label)
    chosen = c2.multiselect(f"Models (up to {vsweep.MAX_MODELS}; none: the form's)", models(),
                            max_selections=vsweep.MAX_MODELS, key=MODELS_KEY,
                            format_func=lambda n: zoo.get_entry(n).title)
    n_seeds = c3.number_input("Seeds per configuration", 1, vexp.MAX_SEEDS, key=SEEDS_KEY)
    sw = None
    with said("Cannot build this sweep: "):
        sw = vsweep.plan_sweep(config, tricks, chosen, int(n_seeds))
    if sw is None:
        return
    for w in exp_results.plan_warnings(sw.plan):
        st.warning(w)
    est = "time unknown"
    with said("No time estimate: "), st.spinner("Estimating from the runs that finished on this machine…"):
        found = vsweep.estimate_sweep(sw, lab.concurrency)
        est = found.text() if found is not None else est
    st.caption(f"{sw.size_text()} · {est}. The first configuration is the baseline every other is compared to.")
    if st.button(f"Queue the sweep ({sw.n_runs} runs)", key="lab_sweep_queue"):
        with said("Not queued: "):
            exp = vexp.submit_plan(lab, sw.plan, form={"base": config.to_dict(), "design": sw.design()})
            st.session_state["lab_experiment"] = exp.id  # the comparison below shows it
            follow(exp.runs[0]["run_id"])
            st.rerun()
