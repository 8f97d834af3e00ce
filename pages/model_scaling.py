"""Model tweaks and scaling: ResNet-A/B/C/D (Bag of Tricks §4) and EfficientNet's compound scaling."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import dataclasses

import pandas as pd
import streamlit as st

from pages._common import (
    bound,
    show_figure,
    user_errors,
    view_link,
)
from vizcore.arch import scaling
from vizcore.figures import scaling as figures
from vizcore.lab import experiment as vexp
from vizcore.lab import history, reference
from vizcore.lab.queue import get_lab
from vizcore.lab.scaling import FAMILY_BASE, model_cost, point_rows, scaling_points
from vizcore.models import efficientnet_small as small_family
from vizcore.models import resnet_tweaks
from vizcore.train.config import TrainConfig
from vizcore.train.timing import format_range

through_app()  # a fresh server's first deep links rerun through app.py's navigation

POLL_S = 2.0  # seconds between updates of the family's chart while its runs train
MEASURE_KEY = "sc_measure_time"  # the button asking for a calibration of the family's models
MEASURED_KEY = "sc_time_measured"  # it was pressed in this session

FORM_TEXT = {
    "a": ("first 1×1 conv", "7×7 conv, stride 2", "1×1 conv, stride 2"),
    "b": ("3×3 conv", "7×7 conv, stride 2", "1×1 conv, stride 2"),
    "c": ("3×3 conv", "three 3×3 convs", "1×1 conv, stride 2"),
    "d": ("3×3 conv", "three 3×3 convs", "2×2 avg pool + 1×1 conv"),
}


@st.cache_data(show_spinner="Counting the four ResNet-50 forms…")
def tweak_rows() -> list[dict]:
    table5 = reference.load_tables()["table5_resnet50_tweaks"]
    rows = []
    for f in resnet_tweaks.FORMS:
        params, macs = scaling.meta_cost(lambda f=f: resnet_tweaks.resnet50_form(f), (3, 224, 224))
        stride_at, stem, shortcut = FORM_TEXT[f]
        key = "ResNet-50" if f == "a" else f"ResNet-50-{f.upper()}"
        rows.append({"form": f.upper(), "stride on": stride_at, "stem": stem, "shortcut": shortcut,
                     "parameters": f"{params:,}", "multiply-adds (G)": round(macs / 1e9, 2),
                     "top-1 (%)": float(table5[key])})
    return rows


@st.cache_data(show_spinner="Scaling B0…", max_entries=64)
def phi_curve(alpha: float, beta: float, gamma: float, phis: tuple[float, ...]
              ) -> tuple[list[int | None], list[int | None]]:
    """Parameters and multiply-adds of B0 scaled by each φ; None where that member cannot be built here."""
    res = [None if scaling.out_of_range(p, alpha, beta, gamma) else scaling.scale_phi(p, alpha, beta, gamma)
           for p in phis]
    return [r.params if r else None for r in res], [r.macs if r else None for r in res]


@st.cache_data(show_spinner=False)
def published_totals() -> dict[str, tuple[int, float]]:
    return {k.upper(): scaling.torchvision_totals(k)[:2] for k in scaling.EFFICIENTNET_TABLE}


def tweaks_section() -> None:
    """ResNet-A/B/C/D: where each strides, its cost counted here and its published top-1."""
    st.header("ResNet-A, B, C, D")
    st.markdown(
        "The original ResNet strides its down-sampling bottleneck in the **first 1×1 conv**: three quarters of the "
        "block's input are never read. **B** moves the stride to the 3×3; **C** swaps the 7×7 stem for three 3×3 "
        "convs; **D** also lets the shortcut average 2×2 before its 1×1 conv, so it reads every pixel too "
        "(He et al., *Bag of Tricks*, CVPR 2019, §4).")
    rows = tweak_rows()
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    show_figure(figures.tweaks_figure([r["form"] for r in rows], [r["multiply-adds (G)"] for r in rows],
                                      [r["top-1 (%)"] for r in rows]), width="stretch", key="sc_tweaks_chart")
    st.caption(f"{reference.citation()} Top-1 accuracy on ImageNet (Table 5); parameters and multiply-adds counted "
               "here for one 224×224 image. The Receptive Field page shows a side effect of D: its averaging shortcut "
               "is centred half a pixel away from the strided 3×3 path (the merge is flagged as not aligned). Compare "
               "the forms yourself on the embedded shapes in the Training Lab: the tricks 'ResNet-B/C/D tweak' train "
               "the small bottleneck ResNet in form A against B, C or D.")


def _compound_inputs() -> tuple[float, float, float, float]:
    """The φ slider (bound to the URL) and the α, β, γ it raises to its power."""
    c1, c2, c3, c4 = st.columns(4)
    bound("sc_phi", 1.0, lo=0.0, hi=7.0)
    phi = c1.slider("φ (compound coefficient)", 0.0, 7.0, 1.0, 0.5, key="sc_phi")
    alpha = c2.number_input("α (depth)", 1.0, 2.0, scaling.ALPHA, 0.05, key="sc_alpha")
    beta = c3.number_input("β (width)", 1.0, 2.0, scaling.BETA, 0.05, key="sc_beta")
    gamma = c4.number_input("γ (resolution)", 1.0, 2.0, scaling.GAMMA, 0.05, key="sc_gamma")
    return phi, alpha, beta, gamma


def _compound_numbers(phi: float, alpha: float, beta: float, gamma: float) -> None:
    """The chosen member's multipliers and cost, or why it is not built, then the chart of φ = 0…7."""
    with user_errors():
        d, w, r = scaling.multipliers(phi, alpha, beta, gamma)
        too_big = scaling.out_of_range(phi, alpha, beta, gamma)
        chosen = None if too_big else scaling.scale_phi(phi, alpha, beta, gamma)
        phis = tuple(float(x) for x in range(8))  # integer steps: each point is one model built on the meta device
        params, macs = phi_curve(alpha, beta, gamma, phis)
    m = st.columns(5)
    m[0].metric("depth × (layers)", f"{d:.2f}")
    m[1].metric("width × (channels)", f"{w:.2f}")
    m[2].metric("resolution", f"{r:,} px")
    m[3].metric("parameters", f"{chosen.params / 1e6:.2f} M" if chosen else "—")
    m[4].metric("multiply-adds", f"{chosen.macs / 1e9:.2f} G" if chosen else "—")
    if chosen is None:
        st.warning(f"At φ = {phi:g} with α = {alpha:g}, β = {beta:g}, γ = {gamma:g} this network is not built here: "
                   f"{too_big}. Lower φ or the base it multiplies; the chart shows the members that can be built.")
    else:
        st.caption(f"α·β²·γ² = {scaling.flops_factor(alpha, beta, gamma):.2f}: each step of φ multiplies the cost "
                   f"by about that much. Blocks per stage: {', '.join(map(str, chosen.layers))}; output channels per "
                   f"stage: {', '.join(map(str, chosen.channels))}.")
    show_figure(figures.scaling_figure(phis, params, macs, published_totals(), chosen=phi), width="stretch",
                key="sc_scaling_chart")


def _published_table() -> None:
    """The published B0–B7: their multipliers, sizes and torchvision's totals."""
    table = []
    for name, (wm, dm, res, _drop) in scaling.EFFICIENTNET_TABLE.items():
        tv_params, tv_gmacs, crop = scaling.torchvision_totals(name)
        table.append({"model": name.upper(), "width ×": wm, "depth ×": dm, "paper size (px)": res,
                      "torchvision size (px)": crop, "parameters": f"{tv_params:,}", "multiply-adds (G)": tv_gmacs})
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    st.caption("The published B1–B7 use hand-rounded multipliers (this table), not exactly α^φ, β^φ, γ^φ. Rebuilding "
               "B0's stage table at these multipliers gives torchvision's parameter counts exactly "
               "(`python -m vizcore scale --json`).")


def compound_section() -> None:
    """EfficientNet's compound scaling: pick φ, α, β, γ and see the member it builds beside the published ones."""
    st.header("Compound scaling (EfficientNet)")
    st.markdown(
        "Make a network bigger along three axes at once: depth **d = α^φ**, width **w = β^φ**, resolution "
        "**r = γ^φ**, with α·β²·γ² ≈ 2 so the cost about doubles per step of φ (Tan & Le, ICML 2019, §3.3). "
        "Channels round to multiples of 8 and layers round up, so real models step rather than glide.")
    phi, alpha, beta, gamma = _compound_inputs()
    _compound_numbers(phi, alpha, beta, gamma)
    _published_table()


def _plan_words(configs: tuple[TrainConfig, ...]) -> str:
    """How long the family's runs take in the Lab's queue, in words (:func:`vizcore.lab.history.estimate_plan`):
    from the runs that finished here; a few timed training steps of each member only when asked (they take
    seconds: not on every visit)."""
    if st.session_state.get(MEASURE_KEY):  # pressed: this session measures from now on (cached a few minutes)
        st.session_state[MEASURED_KEY] = True
    est = history.estimate_plan(configs, calibrate=False)
    if est is None and st.session_state.get(MEASURED_KEY):
        with st.spinner("Timing a few training steps of each member…"):
            est = history.estimate_plan(configs)
    return "time not measured yet" if est is None else f"{format_range(est.low, est.high)} in all"


def _family_body(exp_id: str) -> None:
    """One trained family's accuracy against cost and its table (a fragment: polled while its runs train)."""
    lab = get_lab()
    exp = vexp.get_experiment(exp_id)
    points = scaling_points(lab.store, exp)
    pending = sum(p.pending for p in points)
    if pending:
        st.caption(f"{pending} run{'s' if pending != 1 else ''} still queued or training: the chart fills in as "
                   "they finish (watch them live in the Training Lab).")
    if any(p.accuracy is not None for p in points):
        show_figure(figures.family_figure(points), width="stretch", key="sc_family_chart")
    else:
        st.info("No member has finished yet.")
    rows = pd.DataFrame(point_rows(points))
    if not rows.empty:  # the columns that fit the page; the CLI's JSON has them all
        rows["parameters"] = rows["parameters"].map("{:,}".format)
        rows["wall time per run (s)"] = rows["wall time per run (s)"].round(1)
        rows = rows[["configuration", "parameters", "multiply-adds (M)", "final val accuracy (%)", "seeds done",
                     "pending", "wall time per run (s)"]]
    st.dataframe(rows, hide_index=True, width="stretch")


def _family_table() -> None:
    """The small EfficientNet's family: each member's multipliers, resolution and cost."""
    fam = []
    for phi in small_family.FAMILY_PHIS:
        sc = small_family.small_scale(phi)
        fp, fm = model_cost(sc.name, sc.resolution)
        fam.append({"model": sc.name, "φ": phi, "depth ×": round(sc.depth_mult, 3),
                    "width ×": round(sc.width_mult, 3), "resolution (px)": sc.resolution, "parameters": f"{fp:,}",
                    "multiply-adds (M)": round(fm / 1e6, 2)})
    st.dataframe(pd.DataFrame(fam), hide_index=True, width="stretch")


def _family_plan() -> vexp.Plan | None:
    """The members, seeds, epochs and training images to train, as a plan for the Lab's queue."""
    c1, c2, c3, c4 = st.columns(4)
    phis = c1.multiselect("Members (φ)", list(small_family.FAMILY_PHIS), [0, 1, 2], key="sc_train_phis")
    n_seeds = c2.number_input("Seeds per member", 1, vexp.MAX_SEEDS, 1, key="sc_train_seeds")
    epochs = c3.number_input("Epochs", 1, 50, FAMILY_BASE.epochs, key="sc_train_epochs")
    train_size = c4.number_input("Training images", 500, 50_000, FAMILY_BASE.train_size, step=500,
                                 key="sc_train_size")
    plan = None
    with user_errors("Cannot plan this: "):
        if not phis:
            raise ValueError("expected at least one member of the family, got none")
        base = dataclasses.replace(FAMILY_BASE, epochs=int(epochs), train_size=int(train_size))
        plan = vexp.plan_scaling(base, [int(p) for p in phis], int(n_seeds))
    return plan


def _queue_family(plan: vexp.Plan) -> None:
    """The time estimate (measured on request) and the button queueing the plan's runs in the Training Lab."""
    est_words = "time unknown"
    with user_errors("No time estimate: "):
        est_words = _plan_words(tuple(cfg for _, _, cfg in plan.runs()))
    n_runs = len(plan.runs())
    if est_words == "time not measured yet":
        st.button("Estimate how long they take (times a few training steps of each member)", key=MEASURE_KEY)
    if st.button(f"Queue {n_runs} run{'s' if n_runs != 1 else ''} in the Training Lab ({est_words})",
                 key="sc_train_queue"):
        with user_errors("Not queued: "):
            exp = vexp.submit_plan(get_lab(), plan, kind="scaling")
            st.session_state["sc_family_exp"] = exp.id
            st.toast(f"Queued {n_runs} runs")
    st.caption(f"The runs go through the Training Lab's queue, one at a time (watch them there). Each trains "
               f"{FAMILY_BASE.epochs} epochs at batch {FAMILY_BASE.batch_size} with AdamW (lr {FAMILY_BASE.lr:g}, "
               f"weight decay {FAMILY_BASE.weight_decay:g}), warmup and cosine decay, random flips and flip "
               "test-time augmentation, on 2,000 validation images; the stem is not whitened, so width scales "
               "every layer. One seed per member shows the trend; three tell it from noise.")


def train_section() -> None:
    """The small EfficientNet family on the embedded shapes: its members, and queueing their training."""
    st.header("Scaling on the embedded shapes: accuracy against cost")
    st.markdown(
        "A small EfficientNet for 32×32 images (B0's MBConv blocks with squeeze-and-excitation, four stages) and its "
        "compound-scaled family: **φ = 1, 2, 3** multiply depth by 1.2^φ, width by 1.1^φ and the input side by "
        "1.15^φ (32 → 37 → 42 → 49 px). Train them here on the embedded shapes, each at its own resolution, and see "
        "what each doubling of cost buys.")
    _family_table()
    plan = _family_plan()
    if plan is not None:
        _queue_family(plan)


def results_section() -> None:
    """The trained families: pick one (a newly queued one is shown) and watch its accuracy against cost."""
    family_exps = [e for e in vexp.list_experiments() if e.kind == "scaling"]
    if not family_exps:
        st.info("No family trained yet: queue one above.")
        return
    ids = [e.id for e in family_exps]
    if (st.session_state.get("sc_family_exp") in ids
            and st.session_state.get("sc_family_shown") != st.session_state["sc_family_exp"]):
        st.session_state["sc_family_pick"] = st.session_state["sc_family_exp"]
    st.session_state["sc_family_shown"] = st.session_state.get("sc_family_exp")
    if st.session_state.get("sc_family_pick") not in ids:
        st.session_state["sc_family_pick"] = ids[0]
    label = {e.id: f"{e.name} · {len(e.runs)} runs · #{e.id}" for e in family_exps}
    picked = st.selectbox("Trained family", ids, key="sc_family_pick", format_func=label.get)
    live = any(r.status in ("queued", "running") for r in get_lab().store.list()
               if r.id in {x["run_id"] for x in vexp.get_experiment(picked).runs})
    st.fragment(run_every=POLL_S if live else None)(_family_body)(picked)


st.title("Model tweaks & scaling")
st.caption("Small changes to where a network strides and how it widens — what they cost, and what they bought on "
           "ImageNet.")
tweaks_section()
compound_section()
train_section()
results_section()
view_link()
