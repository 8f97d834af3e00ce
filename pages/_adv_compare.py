"""The Adversarial examples page's last section: a standard and an adversarially trained Lab run side by side —
clean accuracy and accuracy under attack against ε on the same held-out images — and, when either is missing,
a button that queues it in the Training Lab (the default recipe, with and without FGSM-RS training)."""
from __future__ import annotations

import dataclasses

import streamlit as st

from pages._common import user_errors
from pages._nav import page_link
from vizcore.figures import robust as figs
from vizcore.inspect.top_patches import load_labelled
from vizcore.lab.queue import get_lab
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights
from vizcore.robust.evaluate import sweep
from vizcore.train.config import TrainConfig

EPS_255 = (0, 2, 4, 8, 12, 16)  # Linf radii of the comparison, in steps of 1/255
N_IMAGES = 200  # held-out images both models are attacked on
STANDARD = TrainConfig()  # the Training Lab's default recipe
ROBUST = dataclasses.replace(STANDARD, adv_train="fgsm_rs")  # the same with FGSM-RS training (its defaults)


def _finished(adversarial: bool) -> list:
    return [r for r in get_lab().store.list() if r.status == "done" and r.checkpoint and r.config.dataset == "shapes"
            and (r.config.adv_train != "none") == adversarial]


@st.cache_data(show_spinner=False, max_entries=8)
def curves(checkpoints: tuple[str, ...], stamps: tuple[float, ...]) -> list[dict]:
    """Clean accuracy and PGD-10 accuracy at each ε of each checkpoint, on the same held-out shapes."""
    out = []
    for path in checkpoints:
        meta = mweights.checkpoint_meta(path) or {}
        name = str(meta.get("model"))
        model = mweights.load_trained(path)
        size = zoo.get_entry(name).input_size[1]
        ds = load_labelled("shapes", N_IMAGES, size, seed=7, per_class=False)
        res = sweep(model, name, ds.images.float() / 255.0, ds.labels, [e / 255 for e in EPS_255],
                    methods=("pgd",), steps=10, random_start=True)
        out.append({"eps": list(res.eps), "pgd": res.accuracy["pgd"], "clean": res.clean_accuracy,
                    "message": res.message})
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
        f"the same {N_IMAGES} held-out shapes.")
    standard, robust = _finished(False), _finished(True)
    if not standard or not robust:
        missing = [w for w, runs in (("a standard run", standard), ("an adversarially trained run", robust)) if not runs]
        st.info(f"The Training Lab holds no finished {' and no '.join(m.split(' ', 1)[1] for m in missing)} on the "
                "shapes yet. Queue the default recipe (about 20 s on 2 cores) and the same with FGSM-RS training "
                "(about twice that).")
        c1, c2 = st.columns(2)
        with c1:
            if not standard:
                _queue_button("Queue the standard default run", STANDARD, "standard (for robustness)", "adv_q_std")
        with c2:
            if not robust:
                _queue_button("Queue the FGSM-RS run", ROBUST, "FGSM-RS adversarial training", "adv_q_rob")
        page_link(st, "pages/training_lab.py", "Watch them in the Training Lab", ":material/model_training:")
        return
    c1, c2 = st.columns(2)
    label = {r.id: f"{r.name} · #{r.id}" for r in standard + robust}
    s_id = c1.selectbox("Standard run", [r.id for r in standard], format_func=label.get, key="adv_cmp_std")
    r_id = c2.selectbox("Adversarially trained run", [r.id for r in robust], format_func=label.get, key="adv_cmp_rob")
    picked = [next(r for r in standard if r.id == s_id), next(r for r in robust if r.id == r_id)]
    if not st.button("Attack both runs", key="adv_cmp_go") and not st.session_state.get("adv_cmp_done"):
        return
    st.session_state["adv_cmp_done"] = True
    with user_errors("Could not compare: "), st.spinner("Attacking both models at every ε…"):
        res = curves(tuple(r.checkpoint for r in picked), tuple(r.finished_at or 0.0 for r in picked))
    names = [f"{r.name} ({'standard' if r.config.adv_train == 'none' else r.config.adv_train})" for r in picked]
    accs = {n: r["pgd"] for n, r in zip(names, res)}
    at8 = EPS_255.index(8)
    st.plotly_chart(figs.robust_pair_figure(names, [r["clean"] for r in res], [r["pgd"][at8] for r in res], 8 / 255,
                                            10), key="adv_cmp_bars")
    fig = figs.sweep_figure(res[0]["eps"], accs, res[0]["clean"], "linf", N_IMAGES, 10)
    fig.update_layout(title=f"PGD-10 accuracy against ε, both models, on {N_IMAGES} held-out shapes")
    st.plotly_chart(fig, key="adv_cmp_curves")
    for n, r in zip(names, res):
        if r["message"]:
            st.warning(f"{n}: {r['message']}.")
    gain = 100 * (res[1]["pgd"][at8] - res[0]["pgd"][at8])
    cost = 100 * (res[0]["clean"] - res[1]["clean"])
    st.caption(f"At ε 8/255 adversarial training buys {gain:+.1f} points of accuracy under attack, for "
               f"{cost:+.1f} points of clean accuracy: robustness is not free. Compare them over seeds with an A/B "
               "in the Training Lab (trick: adversarial training).")
