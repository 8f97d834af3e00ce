"""Augmentation Lab: build an augmentation pipeline, see its random draws, measure what it does, train with it.

A short story: pick an image (or a batch) -> build a pipeline -> N random draws with what each drew -> MixUp /
CutMix on a batch -> what it does to the pixel statistics -> what it does to the default trained model ->
export it or send it to the Training Lab, which trains with exactly this pipeline.
"""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import json

import numpy as np
import pandas as pd
import streamlit as st
import torch

from pages._common import (
    AUGMENT_PIPELINE_KEY,
    bound,
    image_picker,
    show_figure,
    user_errors,
    view_link,
    words,
)
from vizcore.data import augment as vaug
from vizcore.data import datasets as vdata
from vizcore.data import lighting
from vizcore.data.images import fit_image
from vizcore.data.ops import OPS
from vizcore.data.pipeline import PRESET_PIPELINES, Pipeline
from vizcore.figures import augment as figs
from vizcore.figures.images import image_grid

through_app()  # a fresh server's first deep links rerun through app.py's navigation

STATE = "aug_steps"  # the pipeline being built: a list of {"uid", "op", "p", "params"}
MAX_DRAWS = 24
PREVIEW_SIDE = 96  # pixels: a picked photo is shown at this side


@st.cache_data(show_spinner=False, max_entries=4)
def _batch(n: int, size: int, split: str = "train") -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    ds = vdata.load_dataset("shapes", split, n=n, size=size, seed=0)
    return ds.images.numpy(), ds.labels.numpy(), tuple(ds.classes)


@st.cache_data(show_spinner=False, max_entries=16)
def _stats(pipeline_json: str, seed: int):
    from vizcore.inspect.augment_effect import channel_stats

    images = torch.from_numpy(_batch(256, 32)[0])
    out, _ = Pipeline.from_json(pipeline_json).run(images, torch.Generator().manual_seed(seed))
    return channel_stats(images), channel_stats(out)


@st.cache_data(show_spinner=False, max_entries=1)
def _fitted_lighting() -> tuple[list[float], list[list[float]]]:
    return lighting.fit(torch.from_numpy(_batch(1000, 32)[0]))


def _steps() -> list[dict]:
    return st.session_state.setdefault(STATE, [])


def _set_steps(pipe: Pipeline) -> None:
    st.session_state[STATE] = [{"uid": _uid(), **s.to_dict()} for s in pipe.steps]


def _uid() -> int:
    st.session_state["aug_uid"] = st.session_state.get("aug_uid", 0) + 1
    return st.session_state["aug_uid"]


def _add() -> None:
    op = st.session_state["aug_new_op"]  # read here: a callback's args were bound on the previous run
    _steps().append({"uid": _uid(), "op": op, "p": 1.0 if op in ("randaugment", "trivialaugment") else 0.5,
                     "params": {}})


def _move(k: int, d: int) -> None:
    s = _steps()
    if 0 <= k + d < len(s):
        s[k], s[k + d] = s[k + d], s[k]


def _remove(k: int) -> None:
    _steps().pop(k)


def _reroll() -> None:
    st.session_state["aug_seed"] = int(st.session_state.get("aug_seed", 0)) + 1


def _param_widget(col, step: dict, prm) -> object:
    key = f"aug_{step['uid']}_{prm.name}"
    value = step["params"].get(prm.name, prm.default)
    if prm.kind == "choice":
        return col.selectbox(prm.name, prm.choices, prm.choices.index(value), key=key, help=prm.help)
    if prm.kind == "int":
        return int(col.number_input(prm.name, int(prm.lo), int(prm.hi), int(value), key=key, help=prm.help))
    if prm.kind == "float":
        return float(col.number_input(prm.name, float(prm.lo), float(prm.hi), float(value), key=key, help=prm.help,
                                      format="%.3f"))
    if prm.kind == "range":
        lo, hi = col.slider(prm.name, float(prm.lo), float(prm.hi), (float(value[0]), float(value[1])), key=key,
                            help=prm.help)
        return [lo, hi]
    return value  # vectors (the PCA lighting basis) are set by the buttons below, not typed


def image_section() -> torch.Tensor:
    """Section 1: one picked image or a batch of the embedded shapes, as the (N, 3, H, W) tensor to augment."""
    st.header("1 · Image")
    inputs = ["One image", "A batch of the embedded shapes"]
    bound("aug_input", inputs[0], options=words(inputs))
    source = st.radio("Augment", inputs, horizontal=True, key="aug_input")
    if source == "One image":
        photo = fit_image(image_picker("aug_pick", shapes_size=64).image, PREVIEW_SIDE)
        return torch.from_numpy(photo).permute(2, 0, 1)[None]
    return torch.from_numpy(_batch(8, 32)[0])


def _preset_row() -> None:
    """The preset to start from (loaded on its button) and the operation to add."""
    c1, c2, c3, c4 = st.columns([2, 1, 2, 1])
    bound("aug_preset", "flip_crop", options=list(PRESET_PIPELINES))
    preset = c1.selectbox("Start from a preset", list(PRESET_PIPELINES), list(PRESET_PIPELINES).index("flip_crop"),
                          key="aug_preset")
    if c2.button("Load preset", key="aug_load_preset"):
        _set_steps(PRESET_PIPELINES[preset])
    c3.selectbox("Operation", list(OPS), key="aug_new_op", format_func=lambda o: f"{OPS[o].title} ({o})")
    c4.button("Add", key="aug_add", on_click=_add, type="primary")


def _lighting_basis(step: dict) -> None:
    """PCA lighting's basis: fitted on the embedded shapes or ImageNet's, and its eigenvalues."""
    b1, b2 = st.columns(2)
    if b1.button("Basis of the embedded shapes (fit)", key=f"aug_fit_{step['uid']}"):
        step["params"]["eigval"], step["params"]["eigvec"] = _fitted_lighting()
    if b2.button("ImageNet basis (AlexNet)", key=f"aug_imnet_{step['uid']}"):
        step["params"].pop("eigval", None)
        step["params"].pop("eigvec", None)
    ev = step["params"].get("eigval", lighting.IMAGENET_EIGVAL)
    st.caption("RGB covariance eigenvalues: " + ", ".join(f"{v:.4f}" for v in ev))


def _step_card(k: int, step: dict, n_steps: int) -> None:
    """Step ``k`` of the pipeline: its p, move and remove buttons, and its parameters (written into ``step``)."""
    d = OPS[step["op"]]
    with st.container(border=True):
        h1, h2, h3, h4, h5 = st.columns([4, 2, 0.6, 0.6, 0.6])
        h1.markdown(f"**{k + 1}. {d.title}** · `{d.source}`")
        step["p"] = h2.slider("p", 0.0, 1.0, float(step["p"]), 0.05, key=f"aug_{step['uid']}_p")
        h3.button("↑", key=f"aug_up_{step['uid']}", on_click=_move, args=(k, -1), disabled=k == 0, help="move up")
        h4.button("↓", key=f"aug_down_{step['uid']}", on_click=_move, args=(k, 1), disabled=k == n_steps - 1,
                  help="move down")
        h5.button("✕", key=f"aug_rm_{step['uid']}", on_click=_remove, args=(k,), help="remove")
        shown = [q for q in d.params if q.kind != "vector"]
        if shown:
            cols = st.columns(min(len(shown), 4))
            for j, prm in enumerate(shown):
                step["params"][prm.name] = _param_widget(cols[j % len(cols)], step, prm)
        if step["op"] == "pca_lighting":
            _lighting_basis(step)


def build_section() -> Pipeline:
    """Section 2: build the pipeline step by step (or from a preset); the pipeline built."""
    st.header("2 · Build the pipeline")
    _preset_row()
    steps = _steps()  # read after the preset row: loading a preset replaces the steps
    if not steps:
        st.info("The pipeline is empty: images pass unchanged. Add an operation or load a preset.")
    for k, step in enumerate(steps):
        _step_card(k, step, len(steps))
    with user_errors("This pipeline is not valid: "):
        pipe = Pipeline.from_obj({"name": "augmentation lab", "ops": [{k: v for k, v in s.items() if k != "uid"}
                                                                      for s in steps]})
    return pipe


def draws_section(base: torch.Tensor, pipe: Pipeline) -> int:
    """Section 3: N seeded random draws of the pipeline and what each drew; the seed (the sections below use it)."""
    st.header("3 · Random draws")
    c1, c2, c3 = st.columns([1, 1, 1])
    bound("aug_n", 8, lo=1, hi=MAX_DRAWS)
    n_draws = int(c1.number_input(f"Draws (1–{MAX_DRAWS})", 1, MAX_DRAWS, 8, key="aug_n"))
    st.session_state.setdefault("aug_seed", 0)  # set here, not as the widget's value: Re-roll's callback sets it too
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, key="aug_seed"))
    c3.button("Re-roll", key="aug_reroll", on_click=_reroll, help="the next seed: new draws")
    if base.shape[0] == 1:
        batch = base.expand(n_draws, -1, -1, -1).contiguous()
    else:
        batch = base[torch.arange(n_draws) % base.shape[0]]
    with user_errors("Could not apply the pipeline: "):
        out, drawn = pipe.run(batch, torch.Generator().manual_seed(seed))
    show_figure(image_grid(out, titles=[f"#{i + 1}" for i in range(n_draws)], cols=8,
                           title=f"{n_draws} draws of the pipeline, seed {seed}",
                           hover=[drawn.describe(i) for i in range(n_draws)]), key="aug_grid")
    st.dataframe(pd.DataFrame([{"draw": f"#{i + 1}", "seed": seed, "what it drew": drawn.describe(i)}
                               for i in range(n_draws)]), hide_index=True, key="aug_draw_table")
    return seed


def mixing_section(pipe: Pipeline, seed: int) -> None:
    """Section 4: MixUp or CutMix on a batch after the pipeline, and the soft labels it makes."""
    st.header("4 · MixUp and CutMix (a batch-level stage after the pipeline)")
    c1, c2, c3 = st.columns(3)
    bound("aug_mix_kind", "MixUp", options=words(["MixUp", "CutMix"]))
    bound("aug_mix_alpha", 1.0, lo=0.1, hi=2.0)
    kind = c1.radio("Mixing", ["MixUp", "CutMix"], horizontal=True, key="aug_mix_kind")
    alpha = c2.slider("Beta(α, α)", 0.1, 2.0, 1.0, 0.1, key="aug_mix_alpha")
    mix_n = int(c3.number_input("Images (each mixed with the one before)", 2, 8, 4, key="aug_mix_n"))
    mx, my, classes = _batch(mix_n, 32)
    mcfg = vaug.AugmentConfig(preset="none", mixup_alpha=alpha if kind == "MixUp" else 0.0,
                              cutmix_alpha=alpha if kind == "CutMix" else 0.0)
    g = torch.Generator().manual_seed(seed)
    xb, _ = pipe.run(torch.from_numpy(mx), g)
    mixed, soft, mp = vaug.mix_batch(xb, torch.from_numpy(my).long(), len(classes), mcfg, g)
    cells = (mixed.permute(0, 2, 3, 1).mul(255).round().clamp(0, 255).to(torch.uint8)).numpy()
    if mp.box is not None:
        cells = np.stack([figs.draw_box(c, mp.box) for c in cells])
    names = [f"{classes[int(my[i])]} + {classes[int(my[i - 1])]}" for i in range(mix_n)]
    show_figure(image_grid(cells, titles=[f"#{i + 1}" for i in range(mix_n)], cols=mix_n, cell_px=128,
                           title=f"{mp.describe()} (red box: the patch pasted from the previous image)"
                           if mp.box else mp.describe(), hover=names), key="aug_mix_grid")
    show_figure(figs.mixed_labels_figure(soft.numpy(), classes, [f"#{i + 1}: {n}" for i, n in enumerate(names)]),
                key="aug_mix_labels")


def data_section(pipe: Pipeline, seed: int) -> None:
    """Section 5: the pipeline's effect on the per-channel pixel statistics of the training images."""
    st.header("5 · What it does to the data")
    with user_errors("Statistics not computed: "):
        before, after = _stats(pipe.to_json(), seed)
    ch = ["red", "green", "blue"]
    st.dataframe(pd.DataFrame([{"channel": c, "mean, original": before.mean[i], "mean, augmented": after.mean[i],
                                "std, original": before.std[i], "std, augmented": after.std[i]}
                               for i, c in enumerate(ch)]), hide_index=True, key="aug_stats_table")
    show_figure(figs.channel_histogram_figure(before.hist, after.hist, before.edges, ch), key="aug_hist")
    st.caption("256 training images of the embedded shapes (32×32), pixels in [0, 1].")


def _measure(pipe: Pipeline, seed: int, n_val: int) -> None:
    """Measure each operation on the default model and keep the rows (with the pipeline measured) in the session."""
    from pages._weights import default_checkpoint
    from vizcore.inspect.augment_effect import effect_of_checkpoint

    bar = st.progress(0.0, text="Measuring…")
    with user_errors("Not measured: "):
        rows = effect_of_checkpoint(default_checkpoint(), pipe, n=n_val, seed=seed,
                                    progress=lambda f, t: bar.progress(min(max(f, 0.0), 1.0), text=t))
        st.session_state["aug_effect_rows"] = (pipe.to_json(), [vars(r) for r in rows])
    bar.empty()


def _effect_results(pipe: Pipeline) -> None:
    """The last measurement's chart and table, noting when it was made for an earlier pipeline."""
    saved = st.session_state.get("aug_effect_rows")
    if not saved:
        return
    pj, rows = saved
    if pj != pipe.to_json():
        st.caption("Measured for an earlier version of the pipeline: press the button again to update.")
    show_figure(figs.effect_figure([r["label"] for r in rows], rows[0]["acc_original"],
                                   [r["acc_augmented"] for r in rows], rows[0]["conf_original"],
                                   [r["conf_augmented"] for r in rows]), key="aug_effect_chart")
    st.dataframe(pd.DataFrame([{"operation": r["label"], "accuracy, original (%)": 100 * r["acc_original"],
                                "accuracy, augmented (%)": 100 * r["acc_augmented"],
                                "confidence, original (%)": 100 * r["conf_original"],
                                "confidence, augmented (%)": 100 * r["conf_augmented"],
                                "predictions changed (%)": 100 * r["changed"]} for r in rows]),
                 hide_index=True, key="aug_effect_table",
                 column_config={c: st.column_config.NumberColumn(format="%.1f") for c in (
                     "accuracy, original (%)", "accuracy, augmented (%)", "confidence, original (%)",
                     "confidence, augmented (%)", "predictions changed (%)")})


def model_section(pipe: Pipeline, seed: int) -> None:
    """Section 6: the default trained model's accuracy and confidence before and after each operation."""
    st.header("6 · What it does to a trained model")
    st.markdown("ConvScope's default model (a small CNN trained on the shapes **without** augmentation) classifies "
                "validation images before and after each operation (applied with p = 1). Operations it is already "
                "invariant to leave its accuracy unchanged; the others change its predictions.")
    c1, c2 = st.columns([1, 3])
    n_val = int(c1.number_input("Validation images", 50, 2000, 300, 50, key="aug_val_n"))
    if not pipe.steps:
        c2.caption("Add operations to measure their effect.")
    elif c2.button(f"Measure {len(pipe.steps)} operation(s) on the default model", key="aug_effect"):
        _measure(pipe, seed, n_val)
    _effect_results(pipe)


def export_section(pipe: Pipeline) -> None:
    """Section 7: download the pipeline as JSON or hand it to the Training Lab."""
    st.header("7 · Export and train")
    text = pipe.to_json()
    c1, c2 = st.columns(2)
    c1.download_button("Download pipeline (JSON)", text, "augmentation_pipeline.json", "application/json",
                       key="aug_download")
    if c2.button("Use in Training Lab", key="aug_send", type="primary", disabled=not pipe.steps):
        st.session_state[AUGMENT_PIPELINE_KEY] = json.dumps(pipe.to_dict(), sort_keys=True)
    if st.session_state.get(AUGMENT_PIPELINE_KEY) == json.dumps(pipe.to_dict(), sort_keys=True):
        c2.success("Sent: the Training Lab's setup (tab 'Data augmentation') now uses this pipeline.")
        st.page_link("pages/training_lab.py", label="Open the Training Lab", icon=":material/model_training:")
    with st.expander("Pipeline JSON (for `python -m vizcore train --augment-pipeline FILE`)"):
        st.code(text, language="json")


st.title("Augmentation Lab")
st.markdown("An augmentation pipeline is an ordered list of operations, each applied with probability **p**. "
            "Every random choice is drawn from a seeded generator apart from its application, so what you see "
            "here is exactly what a training run with this pipeline draws — and the Training Lab trains with "
            "this very object. Operations are `torchvision.transforms.v2`'s; PCA lighting follows AlexNet §4.1.")
to_augment = image_section()
built_pipe = build_section()
draw_seed = draws_section(to_augment, built_pipe)
mixing_section(built_pipe, draw_seed)
data_section(built_pipe, draw_seed)
model_section(built_pipe, draw_seed)
export_section(built_pipe)
view_link()
