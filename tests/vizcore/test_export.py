"""Figure export: the CSV of a figure the app draws holds exactly the numbers of its traces."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from vizcore.figures import first_classifiers, images, se, training
from vizcore.figures.export import array_to_csv, figure_filename, figure_to_csv


def _table(fig: go.Figure) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(figure_to_csv(fig)), keep_default_na=False, na_values=[""])


def test_heatmap_is_one_row_per_cell_with_its_block_and_gate() -> None:
    rng = np.random.default_rng(0)
    gates = {"layer1.0": rng.random(4), "layer2.0": rng.random(6)}  # the shorter block leaves NaN cells
    fig = se.gates_heatmap(gates, "gates")
    t = _table(fig)
    assert list(t.columns[:3]) == ["trace", "name", "type"] and set(t["type"]) == {"heatmap"}
    assert len(t) == 2 * 6 and list(t["row"]) == [0] * 6 + [1] * 6 and list(t["col"]) == list(range(6)) * 2
    assert list(t["y"]) == ["layer1.0"] * 6 + ["layer2.0"] * 6
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_array_equal(t["z"].to_numpy(), z.ravel())  # NaN (no channel) reads back as NaN
    assert t["z"].isna().sum() == 2
    np.testing.assert_array_equal(t["z"].to_numpy()[6:], gates["layer2.0"])  # exact, not rounded


def test_bar_chart_keeps_bars_in_order_with_their_customdata() -> None:
    v = np.array([0.2, 0.9, 0.5], dtype=np.float32)
    fig = se.gates_bar(v, "layer3.1")
    t = _table(fig)
    assert set(t["type"]) == {"bar"} and list(t["point"]) == [0, 1, 2]
    assert list(t["x"]) == list(fig.data[0].x)
    # float32 values are written as float32's shortest text: they read back as the same float32 numbers
    np.testing.assert_array_equal(t["y"].to_numpy(np.float32), np.asarray(fig.data[0].y, np.float32))
    assert list(t["y"]) == [0.9, 0.5, 0.2]
    assert list(t["customdata"]) == [1, 2, 0]  # which channel each bar is


def test_multi_trace_line_chart_names_every_trace() -> None:
    curves = {"pixels": [0.31, 0.57, 0.4], "features": [0.5, 0.61, 0.07]}
    fig = first_classifiers.knn_figure([1, 3, 5], curves, chance=0.1, title="k-NN")
    t = _table(fig)
    assert list(t["trace"].unique()) == [0, 1] and list(t["name"].unique()) == ["pixels", "features"]
    for i, trace in enumerate(fig.data):
        rows = t[t["trace"] == i]
        assert list(rows["x"]) == list(trace.x) == [1, 3, 5]
        assert list(rows["y"]) == list(trace.y)  # exactly as plotted: 100 * 0.57 is 56.99999999999999


def test_error_bars_and_nan_points() -> None:
    fig = training.difference_figure(["B vs A", "C vs A"], [1.5, -0.25], [0.5, float("nan")], [2.0, float("nan")])
    t = _table(fig)
    assert list(t["x"]) == [1.5, -0.25] and list(t["y"]) == ["B vs A", "C vs A"]
    assert list(t["error_x"]) == [0.5, 0.0] and list(t["error_x_minus"]) == [1.0, 0.0]
    fig = training.paper_vs_measured_figure(["label smoothing", "mixup"], [0.4, 0.3], [None, 1.25], [None, 0.5])
    t = _table(fig)
    measured = t[t["name"] == "measured here"]
    assert measured["x"].isna().tolist() == [True, False] and measured["x"].iloc[1] == 1.25
    assert list(measured["error_x"]) == [0.0, 0.5]


def test_customdata_with_several_components_gets_a_column_each() -> None:
    fig = go.Figure(go.Scatter(x=[0, 1], y=[2, 3], customdata=[[10, "a"], [11, "b"]], text=["p", "q"]))
    t = _table(fig)
    assert list(t["customdata_0"]) == [10, 11] and list(t["customdata_1"]) == ["a", "b"]
    assert list(t["text"]) == ["p", "q"]


def test_subplots_say_which_axes_and_image_pixels_are_rows() -> None:
    before, after = np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3) * 0.5
    fig = se.before_after_figure(before, after, 0.5, "one channel")
    t = _table(fig)
    assert list(t.columns[3:5]) == ["xaxis", "yaxis"]
    assert set(t[t["trace"] == 1]["xaxis"]) == {"x2"}
    np.testing.assert_array_equal(t[t["trace"] == 1]["z"], after.ravel())

    pics = np.random.default_rng(1).integers(0, 256, (2, 3, 4, 5), dtype=np.uint8)  # (N, C, H, W)
    fig = images.image_grid(pics, cols=2)
    t = _table(fig)
    assert fig.data[0].z is None and fig.data[0].source.startswith("data:image/png;base64,")  # sent as a PNG
    z = images.pixels_of_source(fig.data[0].source)
    np.testing.assert_array_equal(z[1:5, 0:5], pics[0].transpose(1, 2, 0))  # lossless: the first image's pixels
    assert len(t) == z.shape[0] * z.shape[1] and list(t.columns) == ["trace", "name", "type", "row", "col",
                                                                     "r", "g", "b"]
    np.testing.assert_array_equal(t[["r", "g", "b"]].to_numpy(), z.reshape(-1, 3))
    assert (t["row"].to_numpy() == np.repeat(np.arange(z.shape[0]), z.shape[1])).all()


def test_empty_figure_and_wrong_input() -> None:
    assert figure_to_csv(go.Figure()) == "trace,name,type\n"
    with pytest.raises(TypeError, match="expected a plotly go.Figure, got dict"):
        figure_to_csv({"data": []})  # type: ignore[arg-type]


def test_file_name_from_the_title() -> None:
    assert figure_filename(training.lr_schedule_figure([0.1, 0.2], title="Learning-rate schedule: cosine")) \
        == "learning_rate_schedule_cosine"
    assert figure_filename(go.Figure(layout=dict(title="<b>Top 5</b><br>of resnet18"))) == "top_5_of_resnet18"
    assert figure_filename(go.Figure(), "se_bar") == "se_bar"
    long = figure_filename(go.Figure(layout=dict(title="word " * 40)), max_len=20)
    assert long == "word_word_word_word" and len(long) <= 20


def test_a_bare_map_as_csv() -> None:
    m = np.array([[0.0, 0.25, np.nan], [1.0, 0.5, 0.125]], dtype=np.float32)
    t = pd.read_csv(io.StringIO(array_to_csv(m, "importance")))
    assert list(t.columns) == ["row", "col", "importance"] and list(t["row"]) == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(t["importance"].to_numpy(np.float32), m.ravel())
    with pytest.raises(ValueError, match=r"expected a 2-D map \(H, W\), got shape \(3,\)"):
        array_to_csv(np.zeros(3))


def test_png_source_round_trip_and_refusals() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    trace = images.image_trace(rgb, hoverinfo="skip")
    assert trace.z is None and trace.hoverinfo == "skip"
    np.testing.assert_array_equal(images.pixels_of_source(trace.source), rgb)
    rgba = np.dstack([rgb, np.full((7, 9), 128, np.uint8)])
    np.testing.assert_array_equal(images.pixels_of_source(images.png_source(rgba)), rgba)
    t = _table(go.Figure(trace))
    np.testing.assert_array_equal(t[["r", "g", "b"]].to_numpy(), rgb.reshape(-1, 3))
    assert _table(go.Figure(go.Image(source="https://example.org/a.png"))).empty  # a link: no pixels here
    with pytest.raises(ValueError, match=r"expected an image \(H, W, 3\) or \(H, W, 4\) of uint8, got shape \(7, 9, 3\) of float64"):
        images.png_source(rgb / 255.0)
    with pytest.raises(ValueError, match="expected a data URI starting with 'data:image/png;base64,', got 'https:"):
        images.pixels_of_source("https://example.org/a.png")
