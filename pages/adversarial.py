"""Adversarial examples: perturbations too small to see that flip a classifier's decision (Goodfellow, Shlens &
Szegedy, ICLR 2015; Madry et al., ICLR 2018), how the model's explanation moves with them, and what
adversarial training (Wong, Rice & Kolter, ICLR 2020) costs and buys."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import numpy as np
import streamlit as st
import torch

from pages._adv_compare import standard_vs_robust
from pages._common import bound, image_picker, show_figure, user_errors, view_link
from pages._weights import model_and_weights, model_device, outside_training_note, shared_model
from vizcore.data.images import fit_image
from vizcore.figures import robust as figs
from vizcore.inspect.top_patches import load_labelled
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights
from vizcore.robust.attacks import attack, own_answers
from vizcore.robust.drift import drift
from vizcore.robust.evaluate import min_eps, sweep

through_app()  # a fresh server's first deep links rerun through app.py's navigation

METHODS = {"fgsm": "FGSM (one step)", "pgd": "PGD (projected steps)", "noise": "Random noise (the baseline)"}
NORMS = {"linf": "L∞ (every pixel moves at most ε)", "l2": "L2 (the whole change has length ε)"}
EPS_MAX_255 = 64  # the slider's Linf range, in steps of 1/255
SWEEP_EPS_255 = (0, 1, 2, 4, 8, 16, 32, 64)  # the sweep's Linf radii, in steps of 1/255
DATASETS = {"shapes": "Embedded shapes", "digits": "Digits (scikit-learn)"}


def _pixels(name: str, image: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W) float in [0, 1] at the model's input size."""
    size = zoo.get_entry(name).input_size[1]
    return torch.from_numpy(fit_image(image, size)).permute(2, 0, 1)[None].float() / 255.0


@st.cache_data(show_spinner=False, max_entries=32)
def _names(name: str, weights: str, stamp: float) -> list[str]:
    """The model's class names (as many as it has outputs)."""
    model, lock = shared_model(name, weights, stamp)
    c, h, w = zoo.get_entry(name).input_size
    with lock, torch.no_grad():
        n_out = int(model(torch.zeros(1, c, h, w, device=model_device(model))).shape[1])
    return mweights.class_names(name, weights, n_out)


@st.cache_data(show_spinner="Attacking the image…", max_entries=64)
def one_attack(name: str, weights: str, stamp: float, digest: str, method: str, norm: str, eps: float, steps: int,
               random_start: bool, target: int | None, _image: np.ndarray) -> dict:
    model, lock = shared_model(name, weights, stamp)
    x = _pixels(name, _image).to(model_device(model))
    with lock:
        r = attack(model, name, x, own_answers(model, name, x), method=method, eps=eps, norm=norm, steps=steps,
                   random_start=random_start, target=target, seed=0)
        d = drift(model, name, r, layer=zoo.get_entry(name).cam_layer, methods=("gradcam", "saliency"))
    maps = {m: {k: getattr(md, k)[0].cpu().numpy() for k in ("clean", "adversarial", "noisy")}
            for m, md in d.maps.items()}
    return {"clean": r.clean[0].permute(1, 2, 0).cpu().numpy(), "adversarial": r.adversarial[0].permute(1, 2, 0).cpu().numpy(),
            "clean_top": (r.clean_probs[0].cpu().numpy(), r.clean_top[0].cpu().numpy()),
            "adv_top": (r.adversarial_probs[0].cpu().numpy(), r.adversarial_top[0].cpu().numpy()),
            "linf": float(r.delta_norms()[0][0]), "l2": float(r.delta_norms()[1][0]),
            "maps": maps, "measures": {m: md.summary() for m, md in d.maps.items()}}


def _labelled(model: torch.nn.Module, name: str, classes: list[str], dataset: str, n: int, seed: int
              ) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(pixels (N, 3, H, W) in [0, 1] on the model's device, labels, whether the labels are the true classes): the
    true classes when the weights were trained on this data set's classes, else the model's own answers on the
    clean images. ``classes``: the model's class names. Call under the model's lock."""
    size = zoo.get_entry(name).input_size[1]
    ds = load_labelled(dataset, n, size, seed=seed, per_class=False)
    x = (ds.images.float() / 255.0).to(model_device(model))
    if list(ds.classes) == classes:
        return x, ds.labels.to(x.device), True
    return x, own_answers(model, name, x), False


@st.cache_data(show_spinner=False, max_entries=16)
def eps_sweep(name: str, weights: str, stamp: float, dataset: str, n: int, norm: str, steps: int) -> dict:
    model, lock = shared_model(name, weights, stamp)
    eps = [e / 255 for e in SWEEP_EPS_255] if norm == "linf" else [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    classes = _names(name, weights, stamp)  # before the lock: it takes the lock itself
    with lock:
        x, labels, true = _labelled(model, name, classes, dataset, n, seed=0)
        res = sweep(model, name, x, labels, eps, norm=norm, steps=steps)
    return {"eps": list(res.eps), "accuracy": res.accuracy, "clean": res.clean_accuracy, "message": res.message,
            "true_labels": true, "n": res.n}


@st.cache_data(show_spinner=False, max_entries=16)
def flip_radii(name: str, weights: str, stamp: float, dataset: str, n: int, norm: str, method: str, steps: int
               ) -> dict:
    model, lock = shared_model(name, weights, stamp)
    classes = _names(name, weights, stamp)  # before the lock: it takes the lock itself
    with lock:
        x, labels, true = _labelled(model, name, classes, dataset, n, seed=1)
        res = min_eps(model, name, x, labels, method=method, norm=norm, steps=steps)
    return {"eps": res.eps, "summary": res.summary(), "max_eps": res.max_eps, "never": int(res.never.sum())}


def _top_text(probs: np.ndarray, idx: np.ndarray, names: list[str]) -> str:
    return f"{names[int(idx[0])]} ({100 * float(probs[0]):.0f}%)"


# ------------------------------------------------------------------------------------------------- sections

def choose_model() -> tuple[str, str, float]:
    name, weights, stamp = model_and_weights(
        "adv", zoo.list_models(), "small_cnn",
        random_note="**Random weights**: an untrained network has no decision worth attacking. Pick trained weights.")
    with user_errors("Could not load the model: "):
        shared_model(name, weights, stamp)
    return name, weights, stamp


def choose_attack(names: list[str]) -> dict:
    c1, c2, c3 = st.columns(3)
    bound("adv_method", list(METHODS)[1], options=list(METHODS))
    method = c1.radio("Method", list(METHODS), format_func=METHODS.get, key="adv_method", index=1)
    bound("adv_norm", list(NORMS)[0], options=list(NORMS))
    norm = c2.radio("Ball", list(NORMS), format_func=NORMS.get, key="adv_norm")
    if norm == "linf":
        bound("adv_eps", 8, lo=0, hi=EPS_MAX_255)  # in steps of 1/255
        e255 = c3.slider("ε (in steps of 1/255 per pixel)", 0, EPS_MAX_255, 8, key="adv_eps",
                         help="8/255 ≈ 0.031 is the usual budget on small images: invisible to a person.")
        eps = e255 / 255
    else:
        bound("adv_eps_l2", 1.0, lo=0.0, hi=8.0)
        eps = c3.slider("ε (L2 length of the whole change)", 0.0, 8.0, 1.0, 0.05, key="adv_eps_l2")
    c4, c5, c6 = st.columns(3)
    bound("adv_steps", 10, lo=1, hi=100)
    bound("adv_rs", False)
    bound("adv_target", "none (untargeted)", options=names)  # a class name; untargeted by default
    steps = c4.number_input("PGD steps", 1, 100, 10, key="adv_steps", disabled=method != "pgd",
                            help="Each step moves by 2.5 ε / steps and is projected back onto the ε ball.")
    random_start = c5.checkbox("Random start", key="adv_rs", disabled=method == "noise",
                               help="Start from a random point of the ball (FGSM then steps 1.25 ε: FGSM-RS).")
    target = c6.selectbox("Target class", ["none (untargeted)"] + names, key="adv_target",
                          help="Untargeted: push away from the model's answer. Targeted: pull towards this class.")
    return {"method": method, "norm": norm, "eps": float(eps), "steps": int(steps), "random_start": bool(random_start),
            "target": None if target not in names else names.index(target)}


def show_one_image(name: str, weights: str, stamp: float, image: np.ndarray, digest: str, a: dict,
                   names: list[str]) -> None:
    with user_errors("Could not attack this image: "):
        r = one_attack(name, weights, stamp, digest, a["method"], a["norm"], a["eps"], a["steps"], a["random_start"],
                       a["target"], image)
    before, after = _top_text(*r["clean_top"], names), _top_text(*r["adv_top"], names)
    flipped = int(r["clean_top"][1][0]) != int(r["adv_top"][1][0])
    show_figure(figs.attack_figure(r["clean"], r["adversarial"],
                                   [f"clean: {before}", f"largest change {255 * r['linf']:.1f}/255",
                                    f"adversarial: {after}"], a["eps"], a["norm"]), key="adv_fig")
    verdict = "**flipped**" if flipped else "not flipped"
    st.markdown(f"The model's answer: **{before}** → **{after}** ({verdict}). The change moves no pixel by more than "
                f"{255 * r['linf']:.1f}/255 (L2 length {r['l2']:.3f}). Notice how little of it you can see: the "
                "middle panel is the change magnified until it fills the grey range.")
    true_name = names[int(r["clean_top"][1][0])]
    show_figure(figs.topk_pair_figure(
        (r["clean_top"][0], [names[int(i)] for i in r["clean_top"][1]]),
        (r["adv_top"][0], [names[int(i)] for i in r["adv_top"][1]]), true_name), key="adv_topk")
    st.subheader("Where the model looks, before and after")
    src = (np.clip(r["clean"], 0, 1) * 255).round().astype(np.uint8)
    if src.shape[-1] == 1:
        src = np.repeat(src, 3, axis=-1)
    for m, title in (("gradcam", "Grad-CAM"), ("saliency", "Saliency (input gradient)")):
        s = r["measures"][m]
        show_figure(figs.drift_figure(src, [r["maps"][m][k] for k in ("clean", "adversarial", "noisy")],
                                      ["clean", "adversarial", "same-size noise"], f"{title} of the model's answer"),
                    key=f"adv_drift_{m}")
        st.caption(f"{title}: rank correlation with the clean map {s['spearman_adversarial']:.2f} under attack vs "
                   f"{s['spearman_noise']:.2f} under noise of the same size; overlap of the top 20% pixels "
                   f"{s['iou_adversarial']:.2f} vs {s['iou_noise']:.2f}. The explanation follows the answer: when "
                   "the attack changes the answer, the map usually moves far more than noise moves it.")


def show_sweep(name: str, weights: str, stamp: float, a: dict) -> None:
    st.header("Accuracy against ε")
    c1, c2 = st.columns(2)
    bound("adv_sweep_data", list(DATASETS)[0], options=list(DATASETS))
    bound("adv_sweep_n", 100, lo=10, hi=500)
    dataset = c1.selectbox("Images", list(DATASETS), format_func=DATASETS.get, key="adv_sweep_data")
    n = c2.number_input("Images (held-out split)", 10, 500, 100, 10, key="adv_sweep_n")
    if st.button("Measure FGSM, PGD and noise over ε", key="adv_sweep_go") or st.session_state.get("adv_sweep_done"):
        st.session_state["adv_sweep_done"] = True
        with user_errors("Could not run the sweep: "), st.spinner("Attacking every image at every ε…"):
            s = eps_sweep(name, weights, stamp, dataset, int(n), a["norm"], a["steps"])
        if s["message"]:
            st.error(s["message"].capitalize() + ".")
        show_figure(figs.sweep_figure(s["eps"], s["accuracy"], s["clean"], a["norm"], s["n"], a["steps"]),
                    key="adv_sweep_fig")
        how = ("the data set's true classes" if s["true_labels"] else
               "the model's own answers on the clean images (these weights were not trained on this data set)")
        st.caption(f"Labels: {how}. PGD must never do better than FGSM at the same ε, and accuracy must fall towards "
                   "0 as ε grows; noise of the same size barely moves it. That gap is the point: the attack is not "
                   "big, it is aimed.")


def show_min_eps(name: str, weights: str, stamp: float, a: dict) -> None:
    st.header("The smallest ε that flips each image")
    dataset = st.session_state.get("adv_sweep_data", "shapes")
    n = int(st.session_state.get("adv_sweep_n", 100))
    method = a["method"] if a["method"] != "noise" else "pgd"
    if st.button(f"Search each image's smallest flipping ε ({figs.METHOD_TITLES[method]})", key="adv_min_go") or \
            st.session_state.get("adv_min_done"):
        st.session_state["adv_min_done"] = True
        with user_errors("Could not search: "), st.spinner("Bisecting ε for every image…"):
            m = flip_radii(name, weights, stamp, dataset, n, a["norm"], method, a["steps"])
        show_figure(figs.min_eps_figure(m["eps"], a["norm"], m["max_eps"], method, m["never"]), key="adv_min_fig")
        s = m["summary"]
        st.caption(f"{s['searched']} images searched ({s['already_wrong']} already wrong before any attack). Half of "
                   f"them flip by ε {figs.eps_text(s['median'], a['norm']) if s['median'] == s['median'] else '—'}. "
                   "A robust model moves this whole histogram to the right.")


st.title("Adversarial examples")
st.markdown(
    "A change too small to see can flip a classifier's answer. **FGSM** takes one step of size ε along the sign of "
    "the loss's gradient; **PGD** takes several smaller steps, each pulled back into the ε ball. Random noise of the "
    "same size is the baseline: it barely matters. The attack is computed on pixels in [0, 1] with the model's "
    "normalisation inside, so ε is in pixel units.")
name, weights, stamp = choose_model()
with st.sidebar:
    st.markdown("**Input image**")
    image, digest, _ = image_picker("adv_image", source="Shapes data set")  # what the shipped models know
names = _names(name, weights, stamp)
note = outside_training_note(weights, "adv_image")
if note:
    st.info(note)
a = choose_attack(names)
show_one_image(name, weights, stamp, image, digest, a, names)
show_sweep(name, weights, stamp, a)
show_min_eps(name, weights, stamp, a)
standard_vs_robust()
view_link()
