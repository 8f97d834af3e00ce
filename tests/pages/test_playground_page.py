"""Training playground page (AppTest): step runs exactly one batch, play trains on each tick of the live view
(AppTest runs a fragment once per run) until pause, reset returns to step 0 and the seed's weights, and the
widgets' extremes give a page. A tiny training set keeps it quick: the page logic is under test here; the
training itself is tested in tests/vizcore/test_playground.py."""
from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.usefixtures("one_thread")

PAGE = "../../pages/playground.py"


@pytest.fixture(autouse=True)
def small_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's default config with 128 training and 20 held-out images (data generation is not under test)."""
    from vizcore.train import playground as pg

    real = pg.PlaygroundConfig

    def small(**kw):
        return real(**{"train_size": 128, "test_size": 20, **kw})

    monkeypatch.setattr(pg, "PlaygroundConfig", small)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def _state(at: AppTest):
    return at.session_state["pg_state"]


@pytest.mark.slow
def test_step_play_pause_reset() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _metric(at, "Steps") == "0" and len(at.get("plotly_chart")) == 4  # loss, filters, confusion, maps
    initial = {k: v.clone() for k, v in _state(at).model.state_dict().items()}

    at.button(key="pg_step").click().run()
    assert _metric(at, "Steps") == "1" and len(_state(at).losses) == 1
    assert at.button(key="pg_pause").disabled and not at.button(key="pg_play").disabled

    at.button(key="pg_play").click().run()  # the fragment's first tick trains at least one step
    assert at.session_state["pg_running"] and at.button(key="pg_play").disabled
    after_play = _state(at).steps
    assert after_play >= 2
    at.run()  # another tick
    assert _state(at).steps > after_play

    at.button(key="pg_pause").click().run()
    held = _state(at).steps
    assert not at.session_state["pg_running"]
    at.run()
    assert _state(at).steps == held  # paused: a rerun trains nothing, the run is kept
    assert _metric(at, "Steps") == f"{held:,}"

    at.button(key="pg_reset").click().run()
    assert _metric(at, "Steps") == "0" and _state(at).losses == []
    for k, v in _state(at).model.state_dict().items():
        assert torch.equal(v, initial[k]), k


@pytest.mark.slow
def test_step_size_changes_the_run_that_goes_and_width_starts_a_new_one() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.button(key="pg_step").click().run()
    first = _state(at)
    at.select_slider(key="pg_lr").set_value(1.0).run()
    assert _state(at) is first and first.lr == 1.0 and first.optimizer.param_groups[0]["lr"] == 1.0
    at.select_slider(key="pg_width").set_value(4).run()
    assert _state(at) is not first and _state(at).steps == 0 and _state(at).cfg.width == 4


@pytest.mark.slow
def test_every_extreme_of_the_widgets_gives_a_page() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    for width, batch, lr, seed, layer, image in [(4, 8, 0.001, 0, "conv 1 → ReLU", 0),
                                                 (32, 128, 1.0, 9999, "conv 4 → ReLU", 19)]:
        at.select_slider(key="pg_width").set_value(width)
        at.select_slider(key="pg_batch").set_value(batch)
        at.select_slider(key="pg_lr").set_value(lr)
        at.number_input(key="pg_seed").set_value(seed)
        at.run()
        at.selectbox(key="pg_layer").set_value(layer)
        at.slider(key="pg_image").set_value(image)
        at.button(key="pg_step").click().run()
        assert not at.exception, (width, batch, [e.value for e in at.exception])
        assert not at.error, [e.value for e in at.error]
        assert _metric(at, "Steps") == "1" and len(at.get("plotly_chart")) == 4
