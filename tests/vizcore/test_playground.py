"""The training playground: a step is exactly one SGD-with-momentum update (checked against the update computed by
hand from autograd's gradients on a copy), reset returns to the seed, the views read the live model, the loss
falls, and the CLI and figures."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import cli_json
from vizcore.core.budget import MemoryBudgetError
from vizcore.train.playground import Playground, PlaygroundConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convs: a second thread on shared cores only waits

TINY = PlaygroundConfig(width=4, batch_size=16, lr=0.05, momentum=0.9, train_size=32, test_size=30, seed=3)


@pytest.fixture(scope="module")
def tiny() -> Playground:
    return Playground(TINY)


def _grads(model: torch.nn.Module, play: Playground, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of the batch loss at ``idx`` for a copy of ``model`` in train mode (BN on batch statistics)."""
    m = copy.deepcopy(model).train()
    F.cross_entropy(m(play.normalise(play.x_train[idx])), play.y_train[idx]).backward()
    return {n: p.grad.detach().clone() for n, p in m.named_parameters()}


def test_a_step_is_exactly_one_sgd_momentum_update(tiny: Playground) -> None:
    tiny.reset()
    order = torch.randperm(TINY.train_size, generator=torch.Generator().manual_seed(TINY.seed))
    b, lr, mu = TINY.batch_size, TINY.lr, TINY.momentum
    p0 = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    g1 = _grads(tiny.model, tiny, order[:b])
    tiny.step(1)
    assert tiny.steps == 1
    for n, p in tiny.model.named_parameters():  # first step: momentum buffer = gradient
        torch.testing.assert_close(p.detach(), p0[n] - lr * g1[n], rtol=1e-5, atol=1e-6, msg=n)
    p1 = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    g2 = _grads(tiny.model, tiny, order[b:2 * b])
    tiny.step(1)
    for n, p in tiny.model.named_parameters():  # second: buffer = μ·g1 + g2, one update, not two
        torch.testing.assert_close(p.detach(), p1[n] - lr * (mu * g1[n] + g2[n]), rtol=1e-5, atol=1e-6, msg=n)
    assert tiny.steps == 2 and len(tiny.losses) == 2


def test_reset_restores_the_seeds_weights_and_batch_order(tiny: Playground) -> None:
    tiny.reset()
    first = tiny.step(3)
    tiny.set_lr(0.5)
    tiny.step(2)
    tiny.reset()
    fresh = Playground(TINY)
    for (n, a), b in zip(tiny.model.state_dict().items(), fresh.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), n
    assert tiny.steps == 0 and tiny.losses == [] and tiny.lr == TINY.lr
    assert tiny.step(3) == first  # same batches, same weights: the same losses to the bit


def test_loss_falls_over_steps_on_a_fixed_seed(tiny: Playground) -> None:
    tiny.reset()
    losses = tiny.step(40)  # 20 passes over 32 images: a small net can fit them
    assert np.mean(losses[:10]) > np.log(10) - 0.2  # starts near chance, ln 10
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.8
    assert tiny.epoch == pytest.approx(40 / (TINY.train_size // TINY.batch_size))


def test_views_read_the_live_model(tiny: Playground) -> None:
    tiny.reset()
    tiny.step(2)
    conv = tiny.model.features[0]
    assert np.array_equal(tiny.first_filters(), conv.weight.detach().numpy())
    layers = tiny.layers()
    assert list(layers.values()) == ["features.2", "features.6", "features.10", "features.13"]
    tiny.model.eval()
    with torch.no_grad():  # the same maps by running the first modules of the stack directly
        ref = tiny.model.features[:7](tiny.normalise(tiny.x_test[5:6]))[0]
    np.testing.assert_allclose(tiny.activations("features.6", 5), ref.numpy(), rtol=1e-5, atol=1e-6)
    ev = tiny.evaluate()
    with torch.no_grad():
        pred = tiny.model(tiny.normalise(tiny.x_test)).argmax(1)
    assert ev.confusion.sum() == TINY.test_size and ev.steps == 2
    for t, p in zip(tiny.y_test.tolist(), pred.tolist(), strict=True):
        assert ev.confusion[t, p] >= 1
    assert ev.accuracy == pytest.approx(float((pred == tiny.y_test).float().mean()))
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / TINY.test_size)


def test_steps_run_on_the_configured_torch_threads(tiny: Playground, monkeypatch: pytest.MonkeyPatch) -> None:
    from vizcore.train import playground as pg

    seen: list[int] = []
    real = F.cross_entropy
    monkeypatch.setattr(pg.F, "cross_entropy", lambda *a, **k: (seen.append(torch.get_num_threads()),
                                                                 real(*a, **k))[1])
    torch.set_num_threads(2)
    monkeypatch.setenv("CONVSCOPE_TORCH_THREADS", "1")
    tiny.step(1)
    assert seen == [1] and torch.get_num_threads() == 2  # one thread for the step, the caller's count after
    torch.set_num_threads(1)


def test_bad_settings_are_refused_in_words(tiny: Playground, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="expected a width of 4 to 32"):
        PlaygroundConfig(width=64)
    with pytest.raises(ValueError, match="expected a step size"):
        PlaygroundConfig(lr=0.0)
    with pytest.raises(ValueError, match="at least one batch"):
        PlaygroundConfig(batch_size=128, train_size=100)
    with pytest.raises(ValueError, match="expected a step size"):
        tiny.set_lr(float("nan"))
    with pytest.raises(ValueError, match="expected 1 to 10000 steps"):
        tiny.step(0)
    with pytest.raises(ValueError, match="expected one of"):
        tiny.activations("fc", 0)
    with pytest.raises(ValueError, match="held-out image 0 to 29"):
        tiny.activations("features.2", 30)
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET_MB", "16")
    with pytest.raises(MemoryBudgetError, match="training playground of width 32"):
        Playground(PlaygroundConfig(width=32, batch_size=128))


def test_cli_gives_loss_per_step_and_the_confusion_matrix() -> None:
    rc, out, err = cli_json(["playground", "--steps", "4", "--width", "4", "--batch-size", "16", "--train-size",
                             "32", "--test-size", "30", "--seed", "3", "--json"])
    assert rc == 0, err
    assert len(out["losses"]) == 4 and out["steps"] == 4
    assert out["losses"] == Playground(TINY).step(4)  # the same run as the class's
    cm = np.array(out["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == 30
    assert out["held_out_accuracy"] == pytest.approx(np.trace(cm) / 30)
    rc, out, err = cli_json(["playground", "--width", "100", "--json"])
    assert rc == 2 and out is None and err.count("\n") == 1 and "expected a width" in err


def test_figures_are_valid_plotly() -> None:
    from vizcore.figures.playground import confusion_figure, loss_curve_figure, moving_average

    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    fig = loss_curve_figure([2.3, 2.0, 1.5], [(3, 1.9)], chance=float(np.log(10)), validate=True)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text and fig.layout.title.text
    long = list(np.linspace(2.3, 0.5, 5001))
    fig = loss_curve_figure(long, validate=True)
    assert len(fig.data[0].x) <= 2000 and fig.data[0].x[-1] <= 5001  # a long run is thinned, not cut
    np.testing.assert_allclose(fig.data[1].y[0], long[0])  # the average is taken over every step, then thinned
    cm = np.arange(9).reshape(3, 3)
    fig = confusion_figure(cm, ["a", "b", "c"], validate=True)
    np.testing.assert_allclose(fig.data[0].z[1], 100 * cm[1] / cm[1].sum())
    with pytest.raises(ValueError, match=r"expected a \(2, 2\) matrix"):
        confusion_figure(cm, ["a", "b"])
