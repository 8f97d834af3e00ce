"""The Grad-CAM page's "CAM over training": a Training Lab run that kept its last epochs' weights shows the picked
image's map after each of those epochs, and how often held-out shapes' maps land on the object, epoch by epoch."""
from __future__ import annotations

import os
from functools import partial

import numpy as np
import streamlit as st
import torch

from pages._common import progress_bar, show_figure, user_errors
from pages._weights import model_input
from vizcore.core import paths as vpaths
from vizcore.figures import attribution as figures
from vizcore.figures.export import array_to_csv
from vizcore.inspect import attribution as attr
from vizcore.inspect import cam_epochs
from vizcore.inspect import cam_metrics as metrics
from vizcore.lab.store import RunRecord, RunStore
from vizcore.models import weights as mweights

TITLES = {k: v.title for k, v in attr.METHODS.items()}


@st.cache_resource(show_spinner=False)
def run_store(path: str) -> RunStore:
    """The Training Lab's run store, opened read-only: this page only lists runs and their kept epochs."""
    return RunStore(path, readonly=True)


def epoch_runs(model_name: str) -> list[RunRecord]:
    """Finished Training Lab runs of ``model_name`` that kept epoch weights, newest first."""
    path = vpaths.run_store_path()
    if not path.is_file():
        return []
    return [r for r in run_store(str(path)).list()
            if r.finished and r.config.model == model_name and r.kept_epochs]


@st.cache_data(show_spinner=False, max_entries=16)
def epoch_scores(name: str, files: tuple[tuple[int, str, float], ...], size: int, method: str, layer: str,
                 n: int) -> tuple[tuple[cam_epochs.EpochScore, ...], str]:
    """Localisation per kept epoch on ``n`` held-out shapes; ``files``: (epoch, path, mtime) renew the entry."""
    x, masks, ds = cam_epochs.scoring_images(name, n, size)
    ckpts = {e: p for e, p, _ in files}
    mode = cam_epochs.target_mode(ckpts[max(ckpts)], ds.classes)
    bar, cb = progress_bar("Scoring each epoch's maps against the object masks…")
    scores, _ = cam_epochs.epoch_scores(ckpts, x, masks, ds.labels if mode == "true class" else None, model=name,
                                        layer=layer, method=method, progress=cb)
    bar.empty()
    return scores, mode


@st.cache_data(show_spinner=False, max_entries=64)
def epoch_class(name: str, path: str, mtime: float, size: int, digest: str, _image: np.ndarray) -> int:
    return cam_epochs.predicted_class(path, model_input(name, _image, size=size), name)


@st.cache_data(show_spinner="Computing this epoch's map…", max_entries=256)
def epoch_cam(name: str, path: str, mtime: float, size: int, method: str, layer: str, target: int, digest: str,
              _image: np.ndarray) -> tuple[np.ndarray, float]:
    """(map, probability of ``target``) of the picked image with one kept epoch's weights: cached per epoch."""
    return cam_epochs.epoch_map(path, model_input(name, _image, size=size), target, model=name,
                                layer=layer, method=method)


def cam_over_training(name: str, title: str, weights: str, digest: str, raw: np.ndarray, shown: np.ndarray,
                      mask: np.ndarray | None, mask_shown: np.ndarray | None, alpha: float, method: str,
                      layer: str) -> None:
    """Draw the section for zoo model ``name`` (``title``) and the picked image (``raw``, its ``digest``, as shown
    on the page: ``shown``, with its object ``mask``), the first chosen ``method`` at ``layer``."""
    st.subheader("CAM over training")
    st.markdown("How the map forms while the network learns: a Training Lab run that kept its last epochs' weights "
                "shows this image's map after each of those epochs, and how often the maps of held-out shapes land on "
                "the object, epoch by epoch.")
    runs = epoch_runs(name)
    if not runs:
        st.info(f"No finished Training Lab run of {title} kept its epoch weights yet. In the Training Lab, set "
                "**Keep weights of the last E epochs** (sidebar) to a few epochs and train on the shapes; or run "
                f"`python -m vizcore train --model {name} --keep-epochs 5`. A slider here then walks through the "
                "epochs and shows how the map forms, with its localisation score per epoch.")
        return
    by_id = {r.id: r for r in runs}
    chosen_run = (mweights.checkpoint_meta(weights) or {}).get("run_id") if weights not in ("random", "pretrained") else None
    ids = list(by_id)
    c1, c2 = st.columns([3, 2])
    rid = c1.selectbox("Run with kept epoch weights", ids, index=ids.index(chosen_run) if chosen_run in by_id else 0,
                       key="cam_ep_run", format_func=lambda i: f"{by_id[i].name} · {by_id[i].config.dataset} · epochs "
                       f"{', '.join(map(str, by_id[i].kept_epochs))} of {by_id[i].epochs_done} · #{i}")
    n_ep = c2.slider("Held-out shapes images scored per epoch", 20, 200, 60, 20, key="cam_ep_n")
    rec = by_id[rid]
    files = run_store(str(vpaths.run_store_path())).epoch_checkpoints(rid)
    if not files:
        st.info("The epoch weights of this run are no longer on disk (deleted with the run's folder?).")
        return
    size = rec.config.image_size
    key_files = tuple((e, str(p), os.path.getmtime(p)) for e, p in files.items())
    with user_errors("CAM over training failed: "):
        scores, mode = epoch_scores(name, key_files, size, method, layer, int(n_ep))
        last = key_files[-1]
        target = epoch_class(name, last[1], last[2], size, digest, raw)
    epochs = list(files)
    if len(epochs) > 1:
        ep = st.select_slider("Epoch", epochs, value=epochs[-1], key=f"cam_ep_epoch_{rid}")
    else:
        ep = epochs[0]
        st.caption(f"This run kept only epoch {ep}: train with more kept epochs to watch the map form.")
    path, mtime = next((p, t) for e, p, t in key_files if e == ep)
    run_classes = (mweights.checkpoint_meta(path) or {}).get("classes") or []
    tname = run_classes[target] if target < len(run_classes) else f"class {target}"
    with user_errors(f"{TITLES[method]} at epoch {ep} failed: "):
        emap, eprob = epoch_cam(name, path, mtime, size, method, layer, target, digest, raw)
    left, right = st.columns([2, 3])
    epeak = attr.shown_peak(emap, shown.shape[0])
    show_figure(figures.overlay_figure(shown, emap, alpha, f"{TITLES[method]} · epoch {ep} · {tname}",
                                       mask=mask_shown, peak=epeak), width="stretch", key="cam_ep_overlay", where=left,
                csv=partial(array_to_csv, emap, "importance"))
    show_figure(figures.cam_epochs_figure(scores, TITLES[method], layer, int(n_ep), current=ep), width="stretch",
                key="cam_ep_chart", where=right)
    here = f"Epoch {ep}: probability of {tname} {100 * eprob:.1f}%"
    if mask is not None:
        emask = figures.resize_map(mask.astype(float), *emap.shape) > 0.5
        eloc = metrics.localisation(torch.from_numpy(emap)[None], torch.from_numpy(emask)[None])
        here += (f"; peak {'inside' if eloc.pointing else 'outside'} the object; {100 * eloc.energy:.0f}% of the map "
                 f"inside it (object area {100 * eloc.energy_chance:.0f}%)")
    st.caption(here + ". " + (
        "The map explains the class the last kept epoch predicts for this image, the same class at every epoch. "
        + ("Scores: maps of each image's true class. " if mode == "true class" else
           "This run was not trained on the shapes: scores use the class its last kept epoch predicts. ")
        + ("These are the epochs of the weights chosen above. " if rid == chosen_run else
           "The maps further up use the weights chosen at the top, not this run's (open the run from the Training "
           "Lab to use them there too). ")
        + f"Images at the run's size ({size}×{size} pixels); held-out shapes (a split no run trains on)."))
