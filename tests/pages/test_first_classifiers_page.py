"""First classifiers page: the linear classifier's numbers on its defaults, and every extreme of the widgets gives
a page (no exception, no error, the figures drawn)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

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
    at = page
    for data, n, steps, decay, kdata, kn, kmax in [
        (SHAPES, 10, 1, 0.1, DIGITS, 10, 51),
        (DIGITS, 1257, 300, 0.0, DIGITS, 1257, 1),
        (DIGITS, 10, 1, 0.0, SHAPES, 10, 1),
        (SHAPES, 1000, 300, 0.0, SHAPES, 2000, 51),
    ]:
        at.radio(key="fc_lin_data").set_value(data)
        at.slider(key="fc_lin_n").set_value(n)
        at.slider(key="fc_lin_steps").set_value(steps)
        at.select_slider(key="fc_lin_decay").set_value(decay)
        at.radio(key="fc_knn_data").set_value(kdata)
        at.slider(key="fc_knn_n").set_value(kn)
        at.slider(key="fc_knn_kmax").set_value(kmax)
        at.slider(key="fc_knn_query").set_value(3)
        at.run()
        assert not at.exception, (data, n, kdata, kn, [e.value for e in at.exception])
        assert not at.error, [e.value for e in at.error]
        assert len(at.get("plotly_chart")) >= 5
