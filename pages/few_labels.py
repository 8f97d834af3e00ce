"""Few labels: how much accuracy each method buys from K labels per class and an unlabelled pool — supervised,
augmentation, transfer, distillation, pseudo-labels, Noisy Student and FixMatch — and what the pseudo-labels are."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pages._common import (
    bound,
    data_folder_picker,
    said,
    show_figure,
    user_errors,
    view_link,
)
from vizcore.figures import few_labels as figures
from vizcore.inspect import pseudo_labels as pl
from vizcore.lab import few_labels as fl
from vizcore.lab.queue import Lab, get_lab
from vizcore.lab.trained import store_stamp

through_app()  # a fresh server's first deep links rerun through app.py's navigation

POLL_S = 2.0
K_CHOICES = ["1", "4", "25", "100", "all"]
STRONG_VIEWS = {"randaugment": "RandAugment + Cutout", "invariant": "any angle and colour + Cutout"}
SOURCES = ["Shapes (embedded, 4,000 unlabelled)", "An image folder (train/, val/, unlabelled/)"]  # the data radio
SSL = ("pseudo_label", "noisy_student", "fixmatch")


@dataclass
class _Cells:
    """The cells asked for in section 1: methods × labels per class × seeds, the epochs, and the data (the embedded
    shapes when ``root`` is None) with its strong view."""

    methods: list[str]
    ks: list[str]
    n_seeds: int
    epochs: int
    root: str | None = None
    strong: str = "auto"


def _records() -> list:
    return get_lab().store.list(fl.GROUP)


def intro() -> None:
    """What the page compares: the methods, their papers, and USB's numbers for scale."""
    st.caption("40 labelled images and 4,000 unlabelled ones: what each method makes of them. A label budget keeps K "
               "images per class labelled; the rest of the training pool loses its labels and becomes the unlabelled "
               "pool (its hidden labels only score the pseudo-labels below, never a loss).")
    st.markdown(
        "* **Pseudo-label** (Lee 2013): the model's own confident predictions (top probability ≥ τ) on unlabelled "
        "images become targets.\n"
        "* **FixMatch** (Sohn et al. 2020): the prediction on a *weak* view (flip, crop) is the target for a *strong* "
        "view of the same image, when confident (on the shapes: any angle, any colour, Cutout — their own "
        "nuisances; RandAugment's Equalize turns their background grain into a texture; on a folder: RandAugment + "
        "Cutout unless you choose); μ = 7 unlabelled images per labelled one; "
        "here with distribution alignment (Berthelot et al. 2020), which keeps the pseudo-labels from piling onto a "
        "few classes.\n"
        "* **Noisy Student** (Xie et al. 2020): a teacher labels the pool; a student of equal or larger size learns "
        "those labels under noise (strong augmentation, dropout) and becomes the next teacher.\n"
        "* Baselines: **supervised** on the K labels, **+ augmentation** (RandAugment), **+ transfer** (fine-tuned "
        "from the same network trained on the embedded digits), **+ distillation** (from the supervised teacher).")
    st.caption(f"USB's picture on CIFAR-10 with 40 labels (error %): supervised {fl.USB_CIFAR10_40['supervised']}, "
               f"pseudo-label {fl.USB_CIFAR10_40['pseudo_label']}, FixMatch {fl.USB_CIFAR10_40['fixmatch']} (Wang et "
               "al., USB, NeurIPS 2022).")


def choose_cells() -> _Cells:
    """Section 1's choices: methods, labels per class, seeds, epochs and the data (a folder and its strong view);
    the page stops here while an image folder is chosen but not given."""
    st.header("1 · Train the cells")
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    bound("fl_methods", ["supervised", "pseudo_label", "fixmatch"], options=list(fl.METHODS), many=True)
    bound("fl_ks", ["4"], options=K_CHOICES, many=True)
    bound("fl_seeds", 1, lo=1, hi=3)
    bound("fl_epochs", int(fl.RECIPE["epochs"]), lo=1, hi=60)
    bound("fl_data", SOURCES[0], options={SOURCES[0]: "shapes"})  # a server folder is not in a link
    cells = _Cells(
        methods=c1.multiselect("Methods", list(fl.METHODS), ["supervised", "pseudo_label", "fixmatch"],
                               format_func=fl.METHOD_TITLES.get, key="fl_methods"),
        ks=c2.multiselect("Labels per class", K_CHOICES, ["4"], key="fl_ks"),
        n_seeds=c3.number_input("Seeds", 1, 3, 1, key="fl_seeds"),
        epochs=c4.number_input("Epochs", 1, 60, int(fl.RECIPE["epochs"]), key="fl_epochs"))
    source = st.radio("Data", SOURCES, horizontal=True, key="fl_data")
    if source.startswith("An image folder"):
        cells.root = data_folder_picker(st, "fl_folder", label="Image folder")
        if cells.root is None:
            view_link()
            st.stop()
        cells.strong = st.radio(
            "Strong view (FixMatch, Noisy Student)", list(STRONG_VIEWS), horizontal=True, key="fl_strong",
            format_func=STRONG_VIEWS.get,
            help="RandAugment + Cutout is the paper's. Any angle and colour suits objects that come in any "
                 "orientation and colour (the embedded shapes); it would teach a wrong invariance where "
                 "the class depends on them (a 6 is a 9 upside down; a red light is not a green one).")
    return cells


def plan_cells(cells: _Cells) -> tuple[list[fl.FewLabelsSpec], int]:
    """One spec per method × labels per class × seed, and how many cells were skipped (a semi-supervised method
    with every label of the embedded shapes has no unlabelled pool)."""
    specs: list[fl.FewLabelsSpec] = []
    skipped = 0
    with user_errors("Cannot plan this: "):
        for m in cells.methods:
            for k_text in cells.ks:
                k = None if k_text == "all" else int(k_text)
                if k is None and m in SSL and cells.root is None:
                    skipped += 1  # every label: no pool to learn from
                    continue
                for s in range(int(cells.n_seeds)):
                    specs.append(fl.FewLabelsSpec(m, k, s, "folder" if cells.root else "shapes", cells.root,
                                                  strong=cells.strong))
    return specs, skipped


def queue_cells(lab: Lab, specs: list[fl.FewLabelsSpec], skipped: int, epochs: int) -> None:
    """The buttons that queue the missing teachers or sources first, then the cells that are ready, and the
    recipe every run follows."""
    ready, missing = [], {}
    for spec in specs:
        full, need = fl.prerequisite(lab.store, spec)
        if need is None:
            ready.append(full)
        else:
            missing[need.to_json()] = (need, spec)
    if skipped:
        st.caption(f"{skipped} cell{'s' if skipped > 1 else ''} skipped: with every label there is no unlabelled pool.")
    if missing:
        st.warning(f"{len(missing)} teacher or source run{'s' if len(missing) > 1 else ''} must be trained first "
                   "(transfer starts from a model trained on the digits; distillation and Noisy Student from the "
                   "supervised run at the same labels per class and seed).")
        if st.button(f"Train the {len(missing)} missing teacher/source run{'s' if len(missing) > 1 else ''} first",
                     key="fl_prereq"):
            with user_errors("Not queued: "):
                for need, spec in missing.values():
                    lab.submit(need, f"{'Source' if spec.method == 'transfer' else 'Teacher'} for "
                                     f"{fl.run_name(spec)}", fl.GROUP, reuse=True)
                st.toast(f"Queued {len(missing)} run{'s' if len(missing) > 1 else ''}")
    if ready and st.button(f"Queue {len(ready)} run{'s' if len(ready) > 1 else ''} in the Training Lab", key="fl_queue",
                           type="primary"):
        with user_errors("Not queued: "):
            for spec in ready:
                lab.submit(fl.config_for(spec, epochs=int(epochs)), fl.run_name(spec), fl.GROUP, reuse=True)
            st.toast(f"Queued {len(ready)} runs")
    st.caption(f"Each run: {fl.RECIPE['model']} at {fl.RECIPE['image_size']} px, batch {fl.RECIPE['batch_size']} "
               f"labelled + μ·{fl.RECIPE['batch_size']} unlabelled images a step (μ = {fl.RECIPE['ssl_mu']}), an "
               "epoch is one pass over the pool for every method (equal steps), τ = 0.95 (FixMatch "
               f"{fl.FIXMATCH_TAU}, Noisy Student 0.7, soft labels), "
               "1,000 validation images. Runs go through the Training Lab's queue, one at a time.")


@st.fragment(run_every=POLL_S)
def _live() -> None:
    active = [r for r in _records() if r.status in ("queued", "running")]
    if active:
        st.info(f"{len(active)} run{'s' if len(active) > 1 else ''} queued or training: "
                + "; ".join(f"{r.name} ({r.status}, epoch {r.epochs_done}/{r.config.epochs})" for r in active[:4])
                + (" …" if len(active) > 4 else ""))


def in_flight() -> None:
    """The runs queued or training, polled every POLL_S seconds while there are any."""
    if any(r.status in ("queued", "running") for r in _records()):
        _live()


def curve_section() -> list:
    """Section 2: validation accuracy over labels per class, a line per method; returns the group's runs."""
    st.header("2 · Label efficiency")
    records = _records()
    rows = fl.curve_rows(records)
    if rows:
        summary = fl.summarize_curve(rows)
        show_figure(figures.curve_figure(summary, fl.METHOD_TITLES), width="stretch", key="fl_curve")
        table = pd.DataFrame([{"method": fl.METHOD_TITLES.get(r["method"], r["method"]),
                               "labels per class": "all" if r["k"] is None else str(r["k"]), "seeds": r["n"],
                               "val accuracy % (95% interval)": r["text"]} for r in summary])
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.info("No finished run yet: queue some above (supervised and FixMatch at 4 labels per class show the "
                "gap).")
    return records


@st.cache_data(show_spinner="Scoring the pool…", max_entries=8)
def _report(run_id: str, tau: float, stamp: float) -> pl.PseudoLabelReport:
    return fl.run_report(get_lab().store, run_id, tau)


def score_pool(run) -> None:
    """A finished run's pseudo-labels on the pool at a threshold: pass rate, accuracy, the trade-off over τ, and
    (when the pool's labels are known) the confusion matrix and the confident wrong ones."""
    taus = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]  # starts at the run's own τ (the nearest of these)
    tau = st.select_slider("Threshold τ for the matrix and gallery", taus,
                           value=min(taus, key=lambda t: abs(t - run.config.ssl_tau)), key="fl_tau")
    with said("No report: "):
        rep = _report(run.id, tau, store_stamp())
        a, b, c = st.columns(3)
        a.metric("Pass rate at τ", f"{100 * rep.pass_rate:.1f}%")
        b.metric("Accuracy of passed pseudo-labels", "unknown" if rep.accuracy is None
                 else f"{100 * rep.accuracy:.1f}%")
        c.metric("Accuracy of all pseudo-labels", "unknown" if rep.accuracy_all is None
                 else f"{100 * rep.accuracy_all:.1f}%")
        show_figure(figures.tradeoff_figure(rep.tradeoff, rep.tau), width="stretch", key="fl_tradeoff")
        if rep.confusion is None:
            st.info("The pool's true labels are unknown (an unlabelled folder): no confusion matrix or gallery.")
        else:
            show_figure(figures.confusion_figure(rep.confusion, rep.classes, rep.tau), width="stretch",
                        key="fl_confusion")
            if rep.wrong and rep.wrong_images is not None:
                show_figure(figures.wrong_gallery(rep.wrong_images, rep.wrong), width="stretch",
                            key="fl_gallery")
                st.caption("Confirmation bias, seen: the model is sure of these and wrong; trained on them, it "
                           "learns its own mistakes (hover an image for its true class).")
            else:
                st.success("No confident wrong pseudo-label at this τ.")


def pseudo_label_section(lab: Lab, records: list) -> None:
    """Section 3: a semi-supervised run's pseudo-labels during training and, on request, scored on the pool."""
    st.header("3 · Pseudo-labels: how many, how right")
    ssl_runs = [r for r in records if r.config.ssl != "none" and r.epochs_done > 0]
    if not ssl_runs:
        st.info("No semi-supervised run with a completed epoch yet.")
        return
    labels = {r.id: f"{r.name} · {r.status} · #{r.id}" for r in ssl_runs}
    rid = st.selectbox("Run", list(labels), format_func=labels.get, key="fl_run")
    run = next(r for r in ssl_runs if r.id == rid)
    epochs_log = lab.store.metrics(rid)
    show_figure(figures.ssl_log_figure(epochs_log, f"{run.name}: pseudo-labels during training"),
                width="stretch", key="fl_log")
    if st.toggle("Score its pseudo-labels on the pool (one pass over it)", key="fl_score") and run.status == "done":
        score_pool(run)
    elif run.status != "done":
        st.caption("The report needs the finished run's weights.")


def noisy_student_section(lab: Lab, records: list, epochs: int) -> None:
    """Section 4: Noisy Student's rounds, and a button that queues the next round from the newest finished one."""
    st.header("4 · Noisy Student, round after round")
    chains = fl.noisy_student_rounds(records)
    if not chains:
        st.info("No Noisy Student round yet: queue the method above (its teacher is the supervised run at the same "
                "labels per class and seed).")
        return
    show_figure(figures.rounds_figure(chains), width="stretch", key="fl_rounds")
    last = chains[-1][-1]
    grow = st.checkbox("Next student one size larger (fast_cnn → small_cnn → se_resnet_small)", key="fl_grow")
    if last["status"] == "done" and st.button(f"Train round {last['round'] + 1} from round {last['round']}",
                                              key="fl_next_round"):
        with user_errors("Not queued: "):
            cfg = fl.noisy_student_round(last["run_id"], last["model"], last["k"], last["seed"], grow,
                                         last["dataset"], last["data_root"], epochs=int(epochs))
            lab.submit(cfg, f"Noisy Student round {last['round'] + 1} ({last['k']} labels/class, {cfg.model})",
                       fl.GROUP)
            st.toast("Queued the next round")


st.title("Few labels")
intro()
cells = choose_cells()
specs, skipped = plan_cells(cells)
lab = get_lab()
queue_cells(lab, specs, skipped, cells.epochs)
in_flight()
records = curve_section()
pseudo_label_section(lab, records)
noisy_student_section(lab, records, cells.epochs)
view_link()
