"""First classifiers page: the linear classifier's numbers on its defaults, and every extreme of the widgets gives
a page (no exception, no error, the figures drawn)."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from vizcore.inspect import first_classifiers as fc

pytestmark = pytest.mark.usefixtures("one_thread")  # small matmuls: a second thread on shared cores only waits

PAGE = "../../pages/first_classifiers.py"
DIGITS, SHAPES = "Digits 8×8 (scikit-learn)", "Shapes 32×32 (embedded)"


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def page() -> AppTest:
    """The page run once on its defaults: the defaults test reads it, the extremes test then moves its widgets."""
    return AppTest.from_file(PAGE, default_timeout=180).run()


def test_renders_with_its_defaults(page: AppTest) -> None:
    at = page
    assert not at.exception, [e.value for e in at.exception]
    assert float(_metric(at, "Test accuracy (250 other images)").rstrip("%")) > 90  # digits: templates work
    assert _metric(at, "Chance") == "10%"
    assert len(at.get("plotly_chart")) == 6  # templates, class means, objective, k-NN curve, neighbours × 2
    pixels = float(_metric(at, "Best in pixel space (3072 numbers)").rstrip("%"))
    features = float(_metric(at, "Best in small CNN feature space (128 numbers)").rstrip("%"))
    assert features > pixels + 30  # the shapes: learned features, not pixels, bring similar images together


@pytest.mark.slow
def test_every_extreme_of_the_widgets_gives_a_page(page: AppTest) -> None:
    """Each widget at each of its ends, and each data set's "Training images" at both of its ends. That slider's
    range follows the data set, so a run that switches data sets draws it afresh at its default: its ends are set in
    the runs that keep the data set (None below: the default after a switch, min(1000, the data set's cap))."""
    at = page
    lin_cap, knn_cap = {DIGITS: 1257, SHAPES: 1000}, {DIGITS: 1257, SHAPES: 2000}
    for data, n, steps, decay, kdata, kn, kmax in [
        (DIGITS, 1257, 300, 0.0, SHAPES, 2000, 51),  # the data sets of the defaults run: every end at once
        (SHAPES, None, 1, 0.1, DIGITS, None, 1),  # the shapes' default of 1,000 is their linear end
        (SHAPES, 10, 1, 0.0, DIGITS, 10, 51),
        (SHAPES, 10, 1, 0.0, DIGITS, 1257, 1),
        (DIGITS, None, 1, 0.1, SHAPES, None, 51),
        (DIGITS, 10, 1, 0.0, SHAPES, 10, 1),
    ]:
        at.radio(key="fc_lin_data").set_value(data)
        at.radio(key="fc_knn_data").set_value(kdata)
        if n is not None:
            at.slider(key="fc_lin_n").set_value(n)
            at.slider(key="fc_knn_n").set_value(kn)
        at.slider(key="fc_lin_steps").set_value(steps)
        at.select_slider(key="fc_lin_decay").set_value(decay)
        at.slider(key="fc_knn_kmax").set_value(kmax)
        at.slider(key="fc_knn_query").set_value(3)
        at.run()
        assert not at.exception, (data, n, kdata, kn, [e.value for e in at.exception])
        assert not at.error, [e.value for e in at.error]
        n, kn = (min(1000, lin_cap[data]), min(1000, knn_cap[kdata])) if n is None else (n, kn)
        assert (at.slider(key="fc_lin_n").value, at.slider(key="fc_knn_n").value) == (n, kn)
        assert len(at.get("plotly_chart")) >= 5
        curve = json.loads(next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("fc_knn_curve")))
        assert curve["data"][0]["x"] == fc.default_ks(kn, kmax)  # every odd k up to "Largest k" (and the images)
