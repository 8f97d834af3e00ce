"""The Adversarial examples page's last section: a standard and an adversarially trained Lab run side by side —
clean accuracy and accuracy under attack against ε on the same held-out images — and, when either is missing,
a button that queues it in the Training Lab (the default recipe, with and without FGSM-RS training)."""
from __future__ import annotations

import dataclasses

import streamlit as st
import torch

from pages._common import show_figure, user_errors
from pages._nav import page_link
from vizcore.figures import robust as figs
from vizcore.inspect.top_patches import load_labelled
from vizcore.lab.queue import get_lab
from vizcore.models import preprocess
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights
from vizcore.robust.evaluate import sweep
from vizcore.train.config import TrainConfig

EPS_255 = (0, 2, 4, 8, 12, 16)  # Linf radii of the comparison, in steps of 1/255
N_IMAGES = 200  # held-out images both models are attacked on (by default)
STANDARD = TrainConfig()  # the Training Lab's default recipe
ROBUST = dataclasses.replace(STANDARD, adv_train="fgsm_rs")  # the same with FGSM-RS training (its defaults)


def _finished(adversarial: bool) -> list:
    return [r for r in get_lab().store.list() if r.status == "done" and r.checkpoint and r.config.dataset == "shapes"
            and (r.config.adv_train != "none") == adversarial]


@st.cache_data(show_spinner=False, max_entries=8)
def curves(checkpoints: tuple[str, ...], stamps: tuple[float, ...], n: int) -> list[dict]:
    """Clean accuracy and PGD-10 accuracy at each ε of each checkpoint, on the same held-out shapes."""
    out = []
    for path in checkpoints:
        meta = mweights.checkpoint_meta(path) or {}
        name = str(meta.get("model"))
        model = mweights.load_trained(path)
        size = zoo.get_entry(name).input_size[1]
        ds = load_labelled("shapes", n, size, seed=7, per_class=False)
        x = ds.images.float() / 255.0
        true = list(meta.get("classes") or []) == list(ds.classes)
        with torch.no_grad():  # a run trained on other classes: its own answers are what an attack must change
            labels = ds.labels if true else model(preprocess.for_model(name).normalize(x)).argmax(1)
        res = sweep(model, name, x, labels, [e / 255 for e in EPS_255], methods=("pgd",), steps=10,
                    random_start=True)
        out.append({"eps": list(res.eps), "pgd": res.accuracy["pgd"], "clean": res.clean_accuracy,
                    "message": res.message, "true_labels": true})
    return out


def _queue_button(label: str, config: TrainConfig, name: str, key: str) -> None:
    if st.button(label, key=key):
        with user_errors("Not queued: "):
            get_lab().submit(config, name=name)
            st.toast(f"Queued {name}: watch it in the Training Lab")


def standard_vs_robust() -> None:
    st.header("What adversarial training costs and buys")
    st.markdown(
        "Adversarial training replaces each training batch by its worst case inside the ε ball (Madry et al. 2018). "
        "FGSM from a random start with a step of 1.25 ε (Wong, Rice & Kolter 2020) makes that about as cheap as "
        "two ordinary steps. Below, a standard and an adversarially trained run of the Training Lab, attacked on "
        "the same held-out shapes.")
    robust = _finished(True)
    r_id = None
    if robust:
        label = {r.id: f"{r.name} · #{r.id}" for r in robust}
        r_id = st.selectbox("Adversarially trained run", [r.id for r in robust], format_func=label.get,
                            key="adv_cmp_rob")
    chosen = next((r for r in robust if r.id == r_id), None)
    # the standard runs to set beside it: the same model at the same size (any, before one is chosen)
    standard = [r for r in _finished(False) if chosen is None or
                (r.config.model, r.config.image_size) == (chosen.config.model, chosen.config.image_size)]
    if not standard or not robust:
        missing = [w for w, runs in (("standard run", standard), ("adversarially trained run", robust)) if not runs]
        st.info(f"The Training Lab holds no finished {' and no '.join(missing)} of this model on the shapes yet. "
                "Queue the default recipe (about 15 s on 2 idle cores) and the same with FGSM-RS training (about "
                "twice that).")
        c1, c2 = st.columns(2)
        with c1:
            if not standard:
                base = dataclasses.replace(chosen.config, adv_train="none") if chosen is not None else STANDARD
                _queue_button("Queue the standard run", base, "standard (for robustness)", "adv_q_std")
        with c2:
            if not robust:
                _queue_button("Queue the FGSM-RS run", ROBUST, "FGSM-RS adversarial training", "adv_q_rob")
        page_link(st, "pages/training_lab.py", "Watch them in the Training Lab", ":material/model_training:")
        return
    label = {r.id: f"{r.name} · #{r.id}" for r in standard}
    s_id = st.selectbox("Standard run (same model and image size)", [r.id for r in standard], format_func=label.get,
                        key="adv_cmp_std")
    picked = [next(r for r in standard if r.id == s_id), chosen]
    n = int(st.number_input("Held-out images to attack", 20, 500, N_IMAGES, 20, key="adv_cmp_n"))
    if not st.button("Attack both runs", key="adv_cmp_go") and not st.session_state.get("adv_cmp_done"):
        return
    st.session_state["adv_cmp_done"] = True
    with user_errors("Could not compare: "), st.spinner("Attacking both models at every ε…"):
        res = curves(tuple(r.checkpoint for r in picked), tuple(r.finished_at or 0.0 for r in picked), n)
    names = [f"{r.name} ({'standard' if r.config.adv_train == 'none' else r.config.adv_train})" for r in picked]
    accs = {n: r["pgd"] for n, r in zip(names, res)}
    at8 = EPS_255.index(8)
    show_figure(figs.robust_pair_figure(names, [r["clean"] for r in res], [r["pgd"][at8] for r in res], 8 / 255,
                                        10), key="adv_cmp_bars")
    fig = figs.sweep_figure(res[0]["eps"], accs, res[0]["clean"], "linf", n, 10)
    fig.update_layout(title=f"PGD-10 accuracy against ε, both models, on {n} held-out shapes")
    show_figure(fig, key="adv_cmp_curves")
    for n, r in zip(names, res):
        if r["message"]:
            st.warning(f"{n}: {r['message']}.")
    gain = 100 * (res[1]["pgd"][at8] - res[0]["pgd"][at8])
    cost = 100 * (res[0]["clean"] - res[1]["clean"])
    st.caption(f"At ε 8/255 adversarial training buys {gain:+.1f} points of accuracy under attack, for "
               f"{cost:+.1f} points of clean accuracy: robustness is not free. Compare them over seeds with an A/B "
               "in the Training Lab (trick: adversarial training).")
