"""Training & comparison figures: every figure titled and labelled, data drawn as given."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vizcore.figures import training as figures
from vizcore.lab.bands import band


def _labelled(fig) -> None:
    assert fig.layout.title.text
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_lr_schedule_figure_draws_every_step_and_warmup():
    lrs = np.linspace(0.0, 0.1, 50)
    fig = figures.lr_schedule_figure(lrs, steps_per_epoch=10, warmup_steps=5)
    _labelled(fig)
    assert list(fig.data[0].y) == pytest.approx(lrs.tolist())
    assert fig.layout.shapes[0].x1 == 5


def test_live_curves_has_four_labelled_panels():
    fig = figures.live_curves_figure(steps=[1, 2, 3, 4], step_loss=[2, 1.5, 1.2, 1.0], step_lr=[0.1] * 4,
                                     step_throughput=[100, 110, 120, 130], epochs=[1, 2], train_loss=[1.5, 1.0],
                                     val_loss=[1.6, 1.1], train_acc=[40, 60], val_acc=[38, 55])
    assert fig.layout.title.text
    for ax in ("xaxis", "xaxis2", "xaxis3", "xaxis4", "yaxis", "yaxis2", "yaxis3", "yaxis4"):
        assert fig.layout[ax].title.text
    names = [t.name for t in fig.data]
    assert "val accuracy" in names and "throughput" in names
    # epoch-level loss drawn at the step the epoch ended (2 epochs over 4 steps)
    ep = next(t for t in fig.data if t.name == "train loss (epoch)")
    assert list(ep.x) == [2.0, 4.0]
    # built without validation for speed: the same spec must pass plotly's validation
    import plotly.graph_objects as go

    checked = go.Figure(fig.to_dict())
    assert len(checked.data) == len(fig.data) and checked.layout.xaxis4.title.text == "optimizer step (count)"


def test_live_curves_empty_run_is_a_valid_figure():
    fig = figures.live_curves_figure()
    assert fig.data == () or len(fig.data) == 0
    assert fig.layout.title.text == "Training curves"


def test_band_figure_mean_and_band():
    b = band([[50.0, 60.0], [52.0, 64.0]])
    fig = figures.band_curves_figure({"cosine": b})
    _labelled(fig)
    mean_trace = fig.data[1]
    assert list(mean_trace.y) == pytest.approx([51.0, 62.0])
    assert list(fig.data[0].y)[:2] == pytest.approx(b.high.tolist())


def test_comparison_bar_and_paper_figures():
    fig = figures.comparison_figure(["A", "B"], [80.0, 81.0], [1.2, math.nan], values=[[79.0, 81.0], [81.0]])
    _labelled(fig)
    assert list(fig.data[0].error_y.array) == [1.2, 0.0]
    fig2 = figures.paper_vs_measured_figure(["cosine"], [0.75], [1.3], [0.4])
    _labelled(fig2)
    assert fig2.data[0].x[0] == 0.75 and fig2.data[1].x[0] == 1.3
    assert list(fig2.data[1].error_x.array) == [0.4]
    fig3 = figures.shape_bias_figure(["plain", "heavy aug"], [3, 6], [6, 3], [1, 1])
    _labelled(fig3)
    assert fig3.data[0].x[0] == pytest.approx(30.0)


def test_comparisons_are_dots_on_a_zoomed_axis_and_differences_sit_around_zero():
    """Issue 26, defect 4: the A/B bar chart's axis started at 91%, so a half-point difference looked like a factor
    of two. Means are dots (a zoomed axis then exaggerates nothing), and the difference gets its own chart: its
    95% interval around a zero line."""
    fig = figures.comparison_figure(["A", "B"], [98.2, 98.7], [0.3, 0.3], values=[[98.0, 98.4], [98.5, 98.9]])
    assert fig.data[0].type == "scatter" and fig.data[0].mode == "markers"
    assert not any(t.type == "bar" for t in fig.data)
    diff = figures.difference_figure(["B vs A"], [0.5], [-0.1], [1.1])
    _labelled(diff)
    assert list(diff.data[0].error_x.array) == [pytest.approx(0.6)] and list(diff.data[0].error_x.arrayminus) == [
        pytest.approx(0.6)]
    lo, hi = diff.layout.xaxis.range
    assert lo == pytest.approx(-hi) and lo < -1.1 and any(s.x0 == 0 for s in diff.layout.shapes)  # zero centred
    one_seed = figures.difference_figure(["B vs A"], [0.5], [math.nan], [math.nan])
    assert list(one_seed.data[0].error_x.array) == [0.0]


def test_lr_preview_of_a_one_step_run_is_not_an_empty_chart():
    """Issue 9: 32 images at batch 64 is one optimizer step; a line through one point draws nothing."""
    fig = figures.lr_schedule_figure([0.05], steps_per_epoch=1)
    assert "markers" in fig.data[0].mode and list(fig.data[0].y) == [0.05]
    assert list(fig.layout.xaxis.range) == [-1, 1]
    assert any("one step" in a.text for a in fig.layout.annotations)
    assert "markers" in figures.lr_schedule_figure(np.linspace(0.1, 0.0, 8)).data[0].mode
    assert figures.lr_schedule_figure(np.linspace(0.1, 0.0, 500)).data[0].mode == "lines"


def test_comparison_bars_use_the_cut_interval_and_stay_in_bounds():
    """An accuracy interval cut at 0 or 100 is asymmetric, and the axis never shows past [0, 100]."""
    from vizcore.lab.stats import mean_interval

    a, b = mean_interval([10.0, 19.5], bounds=(0, 100)), mean_interval([99.0, 100.0, 100.0], bounds=(0, 100))
    fig = figures.comparison_figure(["A", "B"], [a.mean, b.mean], [a.half_width, b.half_width],
                                        lows=[a.low, b.low], highs=[a.high, b.high], bounds=(0, 100))
    err = fig.data[0].error_y
    assert err.symmetric is False
    assert a.mean - err.arrayminus[0] == pytest.approx(0.0) and a.mean + err.array[0] == pytest.approx(a.high)
    assert b.mean + err.array[1] == pytest.approx(100.0)
    lo, hi = fig.layout.yaxis.range
    assert lo >= -2.0 and hi <= 102.0


def test_live_curves_of_a_one_step_run_draw_every_panel():
    """Issue 9: a run with one logged step showed empty LR and throughput panels (a line through one point)."""
    fig = figures.live_curves_figure(steps=[1], step_loss=[2.3], step_lr=[0.05], step_throughput=[180.0],
                                     epochs=[1], train_loss=[2.3], val_loss=[2.3], train_acc=[10.0], val_acc=[9.4])
    for t in fig.data:
        assert "markers" in t["mode"], t["name"]
    long = figures.live_curves_figure(steps=list(range(1, 200)), step_loss=[1.0] * 199, step_lr=[0.1] * 199,
                                      step_throughput=[100.0] * 199)
    assert next(t for t in long.data if t["name"] == "LR")["mode"] == "lines"
