"""Figures of one layer's arithmetic: the sliding window animation."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.grid import axis_names, grid_layout, trace_axes

if TYPE_CHECKING:
    from vizcore.arch.geometry import ConvGeometry, Explained


MAX_FRAMES = 240  # animation frames at most; larger outputs are sampled evenly
MAX_GRID_SIDE = 256  # padded input side drawn at most (a 256x256 heatmap is ~2 MB of figure JSON)
MAX_TAPS = 100_000  # kernel-tap markers over all frames: large kernels get fewer frames


def animation_limit(g: ConvGeometry, e: Explained) -> str | None:
    """Why the animation of ``g`` is not drawn (a sentence), or None when it is: the padded input must fit
    ``MAX_GRID_SIDE`` pixels a side (the arithmetic itself has no such limit)."""
    top, bottom, left, right = e.pad
    ph, pw = g.height + top + bottom, g.width + left + right
    if max(ph, pw) > MAX_GRID_SIDE:
        return (f"The animation is drawn for padded inputs of at most {MAX_GRID_SIDE}×{MAX_GRID_SIDE} pixels, "
                f"got {ph}×{pw}; the numbers above hold at any size.")
    return None


def _coverage_grid(g: ConvGeometry, e: Explained) -> np.ndarray:
    """The padded input as (ph, pw) codes: 0 padding, 1 input pixel, 2 input pixel no window ever covers
    (every window counts, not only the sampled ones)."""
    top, bottom, left, right = e.pad
    ph, pw = g.height + top + bottom, g.width + left + right
    k_eff = g.dilation * (g.kernel - 1) + 1
    grid = np.zeros((ph, pw))
    grid[top:top + g.height, left:left + g.width] = 1.0
    rows = range(0, e.out_height * g.stride, g.stride)  # every window's top row (not only the sampled ones)
    cols = range(0, e.out_width * g.stride, g.stride)
    row_cov = np.zeros(ph, dtype=bool)
    col_cov = np.zeros(pw, dtype=bool)
    for r in rows:
        row_cov[r:r + k_eff] = True
    for c in cols:
        col_cov[c:c + k_eff] = True
    covered = row_cov[:, None] & col_cov[None, :]
    grid[(grid == 1.0) & ~covered] = 2.0  # input pixels no window reaches
    return grid


def _maps_figure(g: ConvGeometry, e: Explained, grid: np.ndarray) -> tuple[list, dict]:
    """(traces, layout) of the two panels: the padded input coloured by ``grid`` (left), the output map (right)."""
    ph, pw = grid.shape
    colorscale = [[0.0, "#d0d0d0"], [0.33, "#d0d0d0"], [0.34, "#9ecae1"], [0.66, "#9ecae1"], [0.67, "#fb6a4a"],
                  [1.0, "#fb6a4a"]]
    layout = grid_layout(1, 2, (f"Padded input {ph}×{pw} (input {g.height}×{g.width})",
                                f"Output {e.out_height}×{e.out_width}"),
                         column_widths=[0.6, 0.4], horizontal_spacing=0.08)
    hover = np.where(grid == 0, "padding", np.where(grid == 1, "input pixel", "input pixel never covered"))
    traces = [go.Heatmap(z=grid, zmin=0, zmax=2, colorscale=colorscale, showscale=False, xgap=1, ygap=1, text=hover,
                         hovertemplate="row %{y}, col %{x}: %{text}<extra></extra>", **trace_axes(1, 1, 2)),
              go.Heatmap(z=np.zeros((e.out_height, e.out_width)), colorscale=[[0, "#fdd0a2"], [1, "#fdd0a2"]],
                         showscale=False, xgap=1, ygap=1, hovertemplate="output (%{y}, %{x})<extra></extra>",
                         **trace_axes(1, 2, 2))]
    return traces, layout


def _add_windows(traces: list, layout: dict, g: ConvGeometry, e: Explained,
                 windows: Sequence[tuple[int, int, int, int]], input_side: int) -> list[dict]:
    """The kernel taps and the output cell (traces 2 and 3) and the window's outline; returns the animation's
    frames, one per window (plain dicts: plotly validates them once, when the figure is built). ``windows``:
    (row, col, top, left) per frame."""
    taps = np.arange(g.kernel) * g.dilation
    k_eff = g.dilation * (g.kernel - 1) + 1

    def tap_xy(top_: int, left_: int) -> tuple[list[int], list[int]]:
        yy, xx = np.meshgrid(top_ + taps, left_ + taps, indexing="ij")
        return xx.ravel().tolist(), yy.ravel().tolist()

    def box(t: int, l_: int) -> dict:
        return dict(type="rect", xref="x", yref="y", x0=l_ - 0.5, x1=l_ + k_eff - 0.5, y0=t - 0.5, y1=t + k_eff - 0.5,
                    line=dict(color="#08306b", width=2))

    r0, c0, t0, l0 = windows[0]
    x0, y0 = tap_xy(t0, l0)
    traces.append(go.Scatter(x=x0, y=y0, mode="markers", marker=dict(size=max(4, min(14, 240 // input_side)),
                  color="#08306b", symbol="square"), name="kernel taps", hoverinfo="skip", **trace_axes(1, 1, 2)))
    traces.append(go.Scatter(x=[c0], y=[r0], mode="markers", marker=dict(size=max(6, min(22, 260 // max(e.out_height, e.out_width))),
                  color="#d94801", symbol="square"), name="output value", hoverinfo="skip", **trace_axes(1, 2, 2)))
    frames = []
    for i, (r, c, t, l_) in enumerate(windows):
        xs, ys = tap_xy(t, l_)
        frames.append(dict(name=str(i), data=[dict(type="scatter", x=xs, y=ys), dict(type="scatter", x=[c], y=[r])],
                           traces=[2, 3], layout=dict(shapes=[box(t, l_)])))
    layout["shapes"] = [box(t0, l0)]
    return frames


def _add_controls(layout: dict, g: ConvGeometry, e: Explained, windows: Sequence[tuple[int, int, int, int]],
                  padded_hw: tuple[int, int]) -> None:
    """Title, play/pause buttons, the position slider and both panels' axes (pixel units, rows downwards)."""
    steps = [dict(method="animate", label=f"({r},{c})", args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                  transition=dict(duration=0))]) for i, (r, c, _, _) in enumerate(windows)]
    n_all = e.out_height * e.out_width
    sampled = "" if len(windows) == n_all else f" — {len(windows)} of {n_all:,} positions shown"
    layout.update(
        title=dict(text=f"Sliding window: {g.kernel}×{g.kernel} kernel, stride {g.stride}, dilation {g.dilation}{sampled}"),
        height=620, showlegend=False, margin=dict(t=90, b=170, l=50, r=20),
        updatemenus=[dict(type="buttons", x=0, y=-0.3, xanchor="left", yanchor="top", direction="left", buttons=[
            dict(label="▶ Play", method="animate", args=[None, dict(frame=dict(duration=250, redraw=True), fromcurrent=True,
                                                                   transition=dict(duration=0))]),
            dict(label="❚❚ Pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))]),
        ])],
        sliders=[dict(active=0, steps=steps, x=0.18, len=0.82, y=-0.2, yanchor="top",
                      currentvalue=dict(prefix="output position (row, col): "))],
    )
    for col, (h, w) in ((1, padded_hw), (2, (e.out_height, e.out_width))):
        xa, ya = axis_names(1, col, 2)
        layout[xa].update(title=dict(text="column (pixels)"), range=[-0.5, w - 0.5], constrain="domain")
        layout[ya].update(title=dict(text="row (pixels)"), range=[h - 0.5, -0.5], scaleanchor="x" if col == 1 else "x2")


def sliding_window_figure(g: ConvGeometry, e: Explained, max_frames: int = MAX_FRAMES) -> go.Figure:
    """Animated kernel sliding over the padded input (left) with the output cell it produces (right).

    One frame per output position (sampled evenly above ``max_frames``). Input pixels are blue, padding grey,
    and pixels no window ever covers (dropped by the floor) red. Dilation shows as spaced kernel taps.
    ValueError (see :func:`animation_limit`) when the padded input is too large to draw.
    """
    from vizcore.arch.geometry import sample_windows

    reason = animation_limit(g, e)
    if reason:
        raise ValueError(reason)
    grid = _coverage_grid(g, e)
    traces, layout = _maps_figure(g, e, grid)
    max_frames = max(1, min(max_frames, MAX_TAPS // (g.kernel * g.kernel)))
    windows = sample_windows(e.out_height, e.out_width, g.stride, max_frames)
    ph, pw = grid.shape
    frames = _add_windows(traces, layout, g, e, windows, max(ph, pw))
    _add_controls(layout, g, e, windows, (ph, pw))
    return go.Figure(data=traces, layout=layout, frames=frames)  # one validation of the whole figure
