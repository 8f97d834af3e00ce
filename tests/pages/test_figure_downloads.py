"""Every plot of a page comes with its downloads: a PNG named after it in the plot's toolbar, and a "CSV" button
under it whose file holds the numbers the browser plots, made on click without rerunning the page."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

PAGE = "../../pages/model_scaling.py"


@pytest.fixture
def deferred_files(monkeypatch) -> dict[str, object]:
    """file id -> the callable a download button registered (run by the server only when it is clicked)."""
    made: dict[str, object] = {}
    register = MediaFileManager.add_deferred

    def spy(self, data_callable, *args, **kwargs):
        file_id = register(self, data_callable, *args, **kwargs)
        made[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return made


@pytest.mark.slow
def test_each_plot_has_a_csv_button_with_its_numbers(deferred_files) -> None:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    buttons = [b for b in at.download_button if b.label == "CSV"]
    assert charts and len(buttons) == len(charts)
    assert all(b.proto.ignore_rerun and b.proto.deferred_file_id in deferred_files for b in buttons)

    chart = next(c for c in charts if "compound scaling" in c.proto.spec)
    config = json.loads(chart.proto.config)
    png = config["toImageButtonOptions"]
    assert png["format"] == "png" and "compound_scaling" in png["filename"]
    button = at.download_button(key="sc_scaling_chart_csv")
    text = deferred_files[button.proto.deferred_file_id]()
    table = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    shown = pio.from_json(chart.proto.spec)  # the figure as sent to the browser
    assert sorted(table["trace"].unique()) == list(range(len(shown.data)))
    for i, trace in enumerate(shown.data):
        rows = table[table["trace"] == i]
        assert list(rows["name"].fillna("")) == [trace.name or ""] * len(rows)
        for axis in ("x", "y"):
            sent = np.asarray(getattr(trace, axis), dtype=float)
            np.testing.assert_array_equal(rows[axis].to_numpy(float), sent)


@pytest.mark.slow
def test_an_overlay_offers_its_map_as_csv_and_its_picture_as_png(deferred_files, tmp_path, monkeypatch) -> None:
    import torch
    from PIL import Image

    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        at = AppTest.from_file("../../pages/gradcam.py", default_timeout=240)
        at.session_state["cam_loc_n"] = 20
        at.run()
    finally:
        torch.set_num_threads(n)
    assert not at.exception, [e.message for e in at.exception]
    key = next(b.key for b in at.download_button if b.key and b.key.startswith("cam_overlay_gradcam_"))[:-len("_csv")]
    table = pd.read_csv(io.StringIO(deferred_files[at.download_button(key=f"{key}_csv").proto.deferred_file_id]()))
    assert list(table.columns) == ["row", "col", "importance"]
    side = int(np.sqrt(len(table)))
    assert len(table) == side * side and table["importance"].between(0, 1).all() and table["importance"].max() > 0
    png = deferred_files[at.download_button(key=f"{key}_png").proto.deferred_file_id]()
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.mode == "RGB" and picture.size[0] == picture.size[1]
