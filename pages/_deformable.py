"""Conv Arithmetic's deformable-convolution section (Dai et al., 2017): a 3×3 DeformConv2d whose offset field is
trained, on a picture, to imitate the same kernel dilated; where the trained kernel samples against the grid.

Training runs only when pressed (seconds on a CPU, with progress); results are kept for the browser session,
one per setting, so moving the unit sliders never retrains."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._common import progress_bar, show_figure, user_errors

_STORE = "dfm_results"  # session_state: {(photo, size, dilation, steps): DeformResult}


def _photos() -> list[str]:
    from vizcore.data.images import sample_photos

    return list(sample_photos())


def deformable_section() -> None:
    """Draw the section: picture, dilation and steps; a Train button; then the sampling points and the errors."""
    from vizcore.data.images import sample_photos
    from vizcore.figures import deformable as figures
    from vizcore.inspect import deformable as dfm

    st.subheader("Deformable convolution: a kernel that learns where to look")
    st.markdown(
        "A deformable convolution (Dai et al., *Deformable Convolutional Networks*, ICCV 2017) adds to each of the "
        "k×k sampling points a fractional offset (Δy, Δx), predicted at every position by an ordinary convolution "
        "and read by bilinear interpolation. Here a 3×3 `torchvision.ops.DeformConv2d` with a fixed kernel starts "
        "from a regular grid (offsets zero) and its offset predictor is trained to reproduce, on the picture, the "
        "same kernel with dilation D: the answer is known — every point moved (D−1) pixels outward.")
    photos = _photos()
    c1, c2, c3, c4 = st.columns(4)
    photo = c1.selectbox("Picture", photos, index=photos.index("chelsea") if "chelsea" in photos else 0,
                         key="dfm_photo")
    size = c2.select_slider("Picture side (px)", [32, 48, 64], value=48, key="dfm_size")
    dilation = c3.slider("Target dilation D", 2, 4, 2, key="dfm_dilation")
    steps = c4.slider("Adam steps", 20, 400, 200, step=20, key="dfm_steps")
    setting = (photo, int(size), int(dilation), int(steps))
    results = st.session_state.setdefault(_STORE, {})
    if st.button("Train the offsets", key="dfm_train", help="seconds on a CPU core"):
        _, tick = progress_bar("Training the offset field…")
        with user_errors("Could not train the deformable layer: "):
            cfg = dfm.DeformConfig(size=int(size), dilation=int(dilation), steps=int(steps))
            results[setting] = dfm.train_offsets(sample_photos()[photo], cfg, progress=tick)
    res = results.get(setting)
    if res is None:
        st.caption("Press **Train the offsets** to train the layer on this picture and see where it samples.")
        return
    u1, u2 = st.columns(2)
    mid = int(size) // 2
    i = u1.slider("Output unit row", 0, int(size) - 1, mid, key="dfm_i")
    j = u2.slider("Output unit column", 0, int(size) - 1, mid, key="dfm_j")
    left, right = st.columns([3, 2])
    show_figure(figures.sampling_figure(res, [(int(i), int(j))],
                                        title=f"Unit ({i}, {j}): where the trained 3×3 kernel samples"),
                width="stretch", key="dfm_fig", where=left)
    show_figure(figures.loss_figure(res), width="stretch", key="dfm_loss", where=right)
    m = right.columns(2)
    m[0].metric("Error, regular grid", f"{res.loss_regular:.2e}")
    m[1].metric("Error, trained offsets", f"{res.loss_curve[-1]:.2e}")
    grid = dfm.grid_offsets().numpy()
    right.dataframe(pd.DataFrame({
        "kernel point (row, col)": [f"({int(a):+d}, {int(b):+d})" for a, b in grid],
        "learned Δy": res.mean_offset[:, 0].round(2), "learned Δx": res.mean_offset[:, 1].round(2),
        "ideal Δy": res.ideal_offset[:, 0], "ideal Δx": res.ideal_offset[:, 1]}), hide_index=True, height=250)
    st.caption("Offsets in input pixels, averaged over the positions at least D pixels from the border. A point "
               "may settle elsewhere than the ideal when the picture looks alike there (another position gives "
               "nearly the same value): the error, not the offsets, is what training minimises.")
