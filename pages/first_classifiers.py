"""First classifiers: a linear classifier whose weights are class templates, and k-nearest neighbours in pixel
space against a trained network's feature space (the first lecture's two starting points)."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

from dataclasses import dataclass

import numpy as np
import streamlit as st

from pages._common import bound, progress_bar, show_figure, user_errors, view_link
from pages._weights import default_checkpoint
from vizcore.figures import first_classifiers as figures
from vizcore.inspect import first_classifiers as fc

through_app()  # a fresh server's first deep links rerun through app.py's navigation

DATA = {"Digits 8×8 (scikit-learn)": "digits", "Shapes 32×32 (embedded)": "shapes"}
DECAYS = [0.0, 1e-4, 1e-3, 1e-2, 1e-1]
KMAX = 51  # the "Largest k" slider's top


@st.cache_data(show_spinner=False, max_entries=16)
def linear(cfg: fc.LinearConfig) -> fc.LinearResult:
    bar, move = progress_bar("Training the linear classifier…")
    try:
        return fc.train_linear(cfg, progress=lambda i, n, loss: move(i / n, f"step {i}/{n}, objective {loss:.3f}"))
    finally:
        bar.empty()


@st.cache_data(show_spinner=False, max_entries=8)
def means(dataset: str, train_size: int, test_size: int, seed: int) -> np.ndarray:
    return fc.class_means(fc.load_split(dataset, train_size, test_size, seed))


@st.cache_data(show_spinner="Finding the nearest training images…", max_entries=8)
def knn(dataset: str, train_size: int, checkpoint: str | None) -> tuple[list[fc.KnnCurve], fc.Split]:
    """Every k up to the slider's top: moving "Largest k" only cuts the curves (``fc.up_to``), no new features."""
    split = fc.load_split(dataset, train_size, 250, 0)
    ks = fc.default_ks(train_size, KMAX)
    if checkpoint is None:
        return fc.knn_curves(split, ks), split
    from vizcore.models import registry, weights

    model = weights.load_trained(checkpoint)  # this cache's own copy: no other page holds it
    entry = registry.get_entry("small_cnn")
    return fc.knn_with_model(split, model, entry.mean, entry.std, ks), split


# ---------------------------------------------------------------------------------------- 1. linear classifier
def linear_section() -> None:
    """Section 1: the linear classifier on the chosen data, trained, then its numbers and templates."""
    st.header("1 · A linear classifier: one template per class")
    st.markdown("Score of class *c* = **w**_c · **x** + b_c, with **x** the image's pixels in a row. Trained with "
                "softmax cross-entropy, each **w**_c reshaped to the image is a *template*: the image gets the "
                "class whose template it matches best. One layer can only learn one template per class — roughly "
                "the class's average image.")
    dataset, train_size, steps, decay = linear_widgets()
    with user_errors():
        cfg = fc.LinearConfig(dataset=dataset, train_size=train_size, test_size=250, steps=steps,
                              weight_decay=decay)
        res = linear(cfg)
    linear_results(res, dataset, train_size)


def linear_widgets() -> tuple[str, int, int, float]:
    """The data set, the training images, the steps and the weight decay (each bound to the URL)."""
    c1, c2, c3, c4 = st.columns(4)
    bound("fc_lin_data", list(DATA)[0], options=DATA)
    dataset = DATA[c1.radio("Data", list(DATA), key="fc_lin_data")]
    cap = fc.LINEAR_MAX_IMAGES[dataset]
    bound("fc_lin_n", min(1000, cap), lo=10, hi=cap)
    bound("fc_lin_steps", 200, lo=1, hi=fc.MAX_STEPS)
    bound("fc_lin_decay", 1e-3, options=DECAYS)
    train_size = c2.slider("Training images", 10, cap, min(1000, cap), step=1, key="fc_lin_n")
    steps = c3.slider("Steps (full batch)", 1, fc.MAX_STEPS, 200, key="fc_lin_steps")
    decay = c4.select_slider("Weight decay λ", DECAYS, value=1e-3, key="fc_lin_decay")
    return dataset, train_size, steps, decay


def linear_results(res: fc.LinearResult, dataset: str, train_size: int) -> None:
    """Accuracies against chance, the learned templates beside the class means, and the objective's curve."""
    k = len(res.classes)
    m1, m2, m3 = st.columns(3)
    m1.metric("Training accuracy", f"{100 * res.train_accuracy:.1f}%")
    m2.metric("Test accuracy (250 other images)", f"{100 * res.test_accuracy:.1f}%")
    m3.metric("Chance", f"{100 / k:.0f}%")
    side = res.templates.shape[-1]
    show_figure(figures.templates_figure(
        res.templates, res.classes,
        f"Learned templates: each class's weights as a {side}×{side} picture" + (
            " (red raises the score, blue lowers it)" if res.templates.shape[1] == 1
            else " (each stretched to full range)")),
        key="fc_templates")
    show_figure(figures.templates_figure(
        means(dataset, train_size, 250, 0), res.classes, "For comparison: each class's average training image"),
        key="fc_means")
    show_figure(figures.loss_figure(res.loss_curve), key="fc_loss")
    if dataset == "shapes":
        st.caption("On the shapes, position, size, colour and texture change from image to image: no single "
                   "template fits a class, so the linear classifier stays near chance on new images even when it "
                   "fits the training images. That is the limit the convolutional layers on the other pages "
                   "remove.")
    else:
        st.caption("The digits are centred and size-normalised, so one template per class already works well.")


# ---------------------------------------------------------------------------------------- 2. nearest neighbours
@dataclass
class _Knn:
    """The k-NN curves cut at "Largest k", the split they were measured on, and each space's name as shown."""

    data: str  # "digits" or "shapes"
    n: int  # training images
    curves: list[fc.KnnCurve]
    split: fc.Split
    names: dict[str, str]


def knn_section() -> _Knn:
    """Section 2: the data set, training images and largest k; the k-NN curves in pixel (and feature) space."""
    st.header("2 · k-nearest neighbours: pixels against learned features")
    st.markdown("Keep every training image; label a new one by a vote of its *k* closest training images "
                "(Euclidean distance). In **pixel space** close means similar colours at the same places; in the "
                "**feature space** of a trained CNN (the 128 numbers its classifier layer reads) close means what "
                "the network learned to compare.")
    d1, d2, d3 = st.columns(3)
    bound("fc_knn_data", list(DATA)[1], options=DATA)
    kdata = DATA[d1.radio("Data", list(DATA), index=1, key="fc_knn_data")]
    kcap = fc.KNN_MAX_IMAGES[kdata]
    bound("fc_knn_n", min(1000, kcap), lo=10, hi=kcap)
    bound("fc_knn_kmax", 25, lo=1, hi=KMAX)
    kn = d2.slider("Training images", 10, kcap, min(1000, kcap), key="fc_knn_n")
    kmax = d3.slider("Largest k", 1, KMAX, 25, step=2, key="fc_knn_kmax")
    with user_errors():
        ckpt = default_checkpoint("small_cnn") if kdata == "shapes" else None
        every_k, split = knn(kdata, kn, ckpt)
    curves = [fc.up_to(c, kmax) for c in every_k]
    names = {"pixels": f"pixel space ({curves[0].dim} numbers)"}
    if len(curves) > 1:
        names["features"] = f"small CNN feature space ({curves[1].dim} numbers)"
    return _Knn(kdata, kn, curves, split, names)


def knn_accuracy(r: _Knn) -> None:
    """Test accuracy against k in each space, and each space's best k."""
    show_figure(figures.knn_figure(r.curves[0].ks, {r.names[c.space]: c.accuracy for c in r.curves},
                                   1 / len(r.split.classes), f"k-NN test accuracy against k ({r.n} training images)"),
                key="fc_knn_curve")
    cols = st.columns(len(r.curves))
    for col, c in zip(cols, r.curves):
        best = int(np.argmax(c.accuracy))
        col.metric(f"Best in {r.names[c.space]}", f"{100 * c.accuracy[best]:.1f}%", f"k = {c.ks[best]}",
                   delta_color="off")
    if r.data == "digits":
        st.caption("The default CNN was trained on the shapes, not on digits: for the digits only pixel space is "
                   "shown.")
    else:
        st.caption("The feature space is that of ConvScope's default small CNN, trained on other shape images than "
                   "these.")


def nearest_images(r: _Knn) -> None:
    """A chosen test image and its nearest training images in each space."""
    q = st.slider("Test image", 0, len(r.curves[0].neighbours) - 1, 0, key="fc_knn_query")
    for c in r.curves:
        idx = c.neighbours[q]
        titles = [f"test: {r.split.classes[int(r.split.y_test[q])]}"] + [
            r.split.classes[int(r.split.y_train[i])] for i in idx]
        show_figure(figures.neighbours_figure(r.split.x_test[q].numpy(), r.split.x_train[idx].numpy(), titles,
                                              f"Nearest training images in {r.names[c.space]}"),
                    key=f"fc_nn_{c.space}")


st.title("First classifiers")
st.caption("Before convolutions: one fully connected layer whose weights you can look at as pictures, and "
           "classification by looking up the most similar training images.")
linear_section()
neighbours = knn_section()
knn_accuracy(neighbours)
nearest_images(neighbours)
view_link()
