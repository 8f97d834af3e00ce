"""Model tweaks and scaling: ResNet-A/B/C/D (Bag of Tricks §4) and EfficientNet's compound scaling."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._common import user_errors
from vizcore.arch import scaling
from vizcore.figures import scaling as figures
from vizcore.lab import reference
from vizcore.models import resnet_tweaks

st.title("Model tweaks & scaling")
st.caption("Small changes to where a network strides and how it widens — what they cost, and what they bought on "
           "ImageNet.")

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
def phi_curve(alpha: float, beta: float, gamma: float, phis: tuple[float, ...]) -> tuple[list[int], list[int]]:
    res = [scaling.scale_phi(p, alpha, beta, gamma) for p in phis]
    return [r.params for r in res], [r.macs for r in res]


@st.cache_data(show_spinner=False)
def published_totals() -> dict[str, tuple[int, float]]:
    return {k.upper(): scaling.torchvision_totals(k)[:2] for k in scaling.EFFICIENTNET_TABLE}


st.header("ResNet-A, B, C, D")
st.markdown(
    "The original ResNet strides its down-sampling bottleneck in the **first 1×1 conv**: three quarters of the "
    "block's input are never read. **B** moves the stride to the 3×3; **C** swaps the 7×7 stem for three 3×3 convs; "
    "**D** also lets the shortcut average 2×2 before its 1×1 conv, so it reads every pixel too "
    "(He et al., *Bag of Tricks*, CVPR 2019, §4).")
rows = tweak_rows()
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.plotly_chart(figures.tweaks_figure([r["form"] for r in rows], [r["multiply-adds (G)"] for r in rows],
                                      [r["top-1 (%)"] for r in rows]), width="stretch")
st.caption(f"{reference.citation()} Top-1 accuracy on ImageNet (Table 5); parameters and multiply-adds counted here "
           "for one 224×224 image. The Receptive Field page shows a side effect of D: its averaging shortcut is "
           "centred half a pixel away from the strided 3×3 path (the merge is flagged as not aligned). Compare the "
           "forms yourself on the embedded shapes in the Training Lab: the tricks 'ResNet-B/C/D tweak' train the "
           "small bottleneck ResNet in form A against B, C or D.")

st.header("Compound scaling (EfficientNet)")
st.markdown(
    "Make a network bigger along three axes at once: depth **d = α^φ**, width **w = β^φ**, resolution "
    "**r = γ^φ**, with α·β²·γ² ≈ 2 so the cost about doubles per step of φ (Tan & Le, ICML 2019, §3.3). "
    "Channels round to multiples of 8 and layers round up, so real models step rather than glide.")
c1, c2, c3, c4 = st.columns(4)
phi = c1.slider("φ (compound coefficient)", 0.0, 7.0, 1.0, 0.5, key="sc_phi")
alpha = c2.number_input("α (depth)", 1.0, 2.0, scaling.ALPHA, 0.05, key="sc_alpha")
beta = c3.number_input("β (width)", 1.0, 2.0, scaling.BETA, 0.05, key="sc_beta")
gamma = c4.number_input("γ (resolution)", 1.0, 2.0, scaling.GAMMA, 0.05, key="sc_gamma")
with user_errors():
    d, w, r = scaling.multipliers(phi, alpha, beta, gamma)
    chosen = scaling.scale_phi(phi, alpha, beta, gamma)
    phis = tuple(float(x) for x in range(8))  # integer steps: each point is one model built on the meta device
    params, macs = phi_curve(alpha, beta, gamma, phis)
m = st.columns(5)
m[0].metric("depth × (layers)", f"{d:.2f}")
m[1].metric("width × (channels)", f"{w:.2f}")
m[2].metric("resolution", f"{r} px")
m[3].metric("parameters", f"{chosen.params / 1e6:.2f} M")
m[4].metric("multiply-adds", f"{chosen.macs / 1e9:.2f} G")
st.caption(f"α·β²·γ² = {scaling.flops_factor(alpha, beta, gamma):.2f}: each step of φ multiplies the cost by about "
           f"that much. Blocks per stage: {', '.join(map(str, chosen.layers))}; output channels per stage: "
           f"{', '.join(map(str, chosen.channels))}.")
st.plotly_chart(figures.scaling_figure(phis, params, macs, published_totals(), chosen=phi), width="stretch")
table = []
for name, (wm, dm, res, _drop) in scaling.EFFICIENTNET_TABLE.items():
    tv_params, tv_gmacs, crop = scaling.torchvision_totals(name)
    table.append({"model": name.upper(), "width ×": wm, "depth ×": dm, "paper size (px)": res,
                  "torchvision size (px)": crop, "parameters": f"{tv_params:,}", "multiply-adds (G)": tv_gmacs})
st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
st.caption("The published B1–B7 use hand-rounded multipliers (this table), not exactly α^φ, β^φ, γ^φ. Rebuilding "
           "B0's stage table at these multipliers gives torchvision's parameter counts exactly "
           "(`python -m vizcore scale --json`).")
