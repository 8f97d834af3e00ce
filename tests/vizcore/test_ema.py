"""The weight average (EMA) and the strong view as a pipeline: closed forms, refusals, and runs that use them."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers import tiny_config, tiny_data
from vizcore.train.ema import WeightEMA, decay_at
from vizcore.train.engine import Run
from vizcore.train.loop import Callback

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ema_weights_equal_the_closed_form_after_two_steps() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    w0 = [p.detach().clone() for p in model.parameters()]
    ema = WeightEMA(model, 0.999)
    seen = []
    for k in (1, 2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(float(k))
            model[1].running_mean.fill_(float(k))
        seen.append([p.detach().clone() for p in model.parameters()])
        ema.update(model)
    d1, d2 = 2 / 11, 3 / 12  # min(0.999, (1 + t) / (10 + t)) for t = 1, 2
    assert decay_at(0.999, 1) == pytest.approx(d1) and decay_at(0.999, 2) == pytest.approx(d2)
    assert decay_at(0.9, 10**6) == 0.9
    for e, a, b, c in zip(ema.module.parameters(), w0, *seen):
        assert torch.allclose(e, d2 * (d1 * a + (1 - d1) * b) + (1 - d2) * c, atol=1e-6)
    assert torch.equal(ema.module[1].running_mean, torch.full((2,), 2.0))  # buffers: copied, not averaged
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_ema_refuses_a_decay_outside_0_1(decay) -> None:
    with pytest.raises(ValueError, match="expected an EMA decay in"):
        WeightEMA(nn.Linear(2, 2), decay)


@pytest.mark.parametrize("fields, match", [
    ({"ema_decay": 1.0}, "ema_decay in"),
    ({"ssl_ema_teacher": True}, "expected ema_decay > 0 and ssl"),
    ({"ssl_ema_teacher": True, "ema_decay": 0.99}, "expected ema_decay > 0 and ssl"),
    ({"ssl_ema_teacher": 1, "ema_decay": 0.99, "ssl": "fixmatch", "labelled_per_class": 2}, "true or false")])
def test_config_refuses_bad_ema_fields(fields, match) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**fields)


class Weights(Callback):
    """The trained model's and the average's weights after the last epoch."""

    def on_epoch_end(self, state, event) -> None:
        self.trained = {k: v.clone() for k, v in state.model.state_dict().items()}
        self.average = {k: v.clone() for k, v in state.eval_model.state_dict().items()}


def test_a_run_with_ema_validates_and_keeps_the_average() -> None:
    data = (tiny_data(48, size=16, classes=4, seed=0), tiny_data(16, size=16, classes=4, seed=1))
    seen = Weights()
    run = Run(tiny_config(model="fast_cnn", image_size=16, train_size=48, batch_size=8, ema_decay=0.9), data=data,
              callbacks=[seen])
    assert run.run_sync() == "done", run.message
    assert run.model is not None
    final = run.model.state_dict()
    assert all(torch.equal(final[k], seen.average[k]) for k in final)
    assert any(not torch.equal(seen.trained[k], seen.average[k]) for k in final)


@pytest.mark.parametrize("method", ["fixmatch", "pseudo_label"])
def test_a_mean_teacher_run_labels_with_the_average(method) -> None:
    data = (tiny_data(88, size=16, classes=4, seed=0), tiny_data(16, size=16, classes=4, seed=1))
    cfg = tiny_config(model="fast_cnn", image_size=16, train_size=88, val_size=16, batch_size=4, ssl_mu=2,
                      labelled_per_class=2, ssl=method, ssl_tau=0.3, ema_decay=0.9, ssl_ema_teacher=True)
    run = Run(cfg, data=data)
    assert run.run_sync() == "done", run.message
    assert run.history[-1]["ssl"]["unlabelled_seen"] == 80


def test_a_strong_view_pipeline_is_stored_as_json_and_used() -> None:
    from vizcore.train.ssl import invariant_strong_pipeline

    pipe = invariant_strong_pipeline(16)
    cfg = tiny_config(model="fast_cnn", image_size=16, train_size=88, val_size=16, batch_size=4, ssl_mu=2,
                      labelled_per_class=2, ssl="fixmatch", ssl_tau=0.3, ssl_strong_pipeline=pipe.to_dict())
    assert isinstance(cfg.ssl_strong_pipeline, str) and '"rotation"' in cfg.ssl_strong_pipeline
    with pytest.raises(ValueError, match="expected"):
        tiny_config(ssl_strong_pipeline='{"ops": [{"op": "no_such_op"}]}')
    seen = []

    class Strong(Callback):
        def on_setup(self, state) -> None:
            seen.append([s.op for s in state.ssl.strong.steps])

    data = (tiny_data(88, size=16, classes=4, seed=0), tiny_data(16, size=16, classes=4, seed=1))
    run = Run(cfg, data=data, callbacks=[Strong()])
    assert run.run_sync() == "done", run.message
    assert seen == [[s.op for s in pipe.steps]]
