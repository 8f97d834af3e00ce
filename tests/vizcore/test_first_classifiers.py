"""The first lecture's classifiers against scikit-learn: the linear classifier's accuracy against
LogisticRegression with the same L2 penalty on the same split, and k-NN's predictions against
KNeighborsClassifier exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from vizcore.figures import first_classifiers as figs
from vizcore.inspect import first_classifiers as fc

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny matmuls: a second thread on shared cores only waits


@pytest.fixture(scope="module")
def digits() -> fc.Split:
    return fc.load_split("digits", 600, 200, seed=0)


def test_linear_classifier_matches_logistic_regression(digits: fc.Split) -> None:
    cfg = fc.LinearConfig("digits", 600, 200, steps=200, weight_decay=1e-3)
    seen: list[int] = []
    r = fc.train_linear(cfg, digits, progress=lambda i, n, loss: seen.append(i))
    assert seen == list(range(1, 201)) and r.loss_curve[-1] < r.loss_curve[0]
    x, xt = digits.x_train.flatten(1).numpy(), digits.x_test.flatten(1).numpy()
    # mean CE + (λ/2)‖W‖²  ==  (1 / (λ N)) · [C Σ CE + ½‖W‖²] with C = 1 / (λ N): the same minimiser
    ref = LogisticRegression(C=1 / (cfg.weight_decay * len(x)), max_iter=3000).fit(x, digits.y_train.numpy())
    assert abs(r.test_accuracy - ref.score(xt, digits.y_test.numpy())) <= 0.02
    assert abs(r.train_accuracy - ref.score(x, digits.y_train.numpy())) <= 0.02
    assert r.templates.shape == (10, 1, 8, 8) and r.bias.shape == (10,)
    # a template looks like its class: it correlates best with its own class's mean image
    means = fc.class_means(digits).reshape(10, -1)
    corr = np.corrcoef(r.templates.reshape(10, -1), means)[:10, 10:]
    assert (corr.argmax(1) == np.arange(10)).sum() >= 8


def test_knn_matches_kneighbors_exactly() -> None:
    s = fc.load_split("shapes", 150, 60, seed=1)
    ks = [1, 2, 3, 7, 15]
    feats = (torch.randn(150, 16, generator=torch.Generator().manual_seed(0)),
             torch.randn(60, 16, generator=torch.Generator().manual_seed(1)))
    for tr, te in [(s.x_train.flatten(1), s.x_test.flatten(1)), feats]:
        preds, idx = fc.knn_predict(tr, s.y_train, te, ks, 10)
        for k in ks:
            ref = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(tr.numpy(), s.y_train.numpy())
            assert np.array_equal(preds[k].numpy(), ref.predict(te.numpy())), k
        ref_idx = KNeighborsClassifier(n_neighbors=15, algorithm="brute").fit(tr.numpy(), s.y_train.numpy())
        assert np.array_equal(idx.numpy(), ref_idx.kneighbors(te.numpy(), return_distance=False))
    curves = fc.knn_curves(s, ks, feats, show=2)
    assert [c.space for c in curves] == ["pixels", "features"] and [c.dim for c in curves] == [3072, 16]
    ref = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(feats[0].numpy(), s.y_train.numpy())
    assert curves[1].accuracy[ks.index(3)] == pytest.approx(ref.score(feats[1].numpy(), s.y_test.numpy()))
    assert len(curves[0].neighbours) == 2 and len(curves[0].neighbours[0]) == 5


def test_penultimate_features_are_what_the_head_reads() -> None:
    from vizcore.models.small import SmallCNN

    m = SmallCNN(width=8).eval()
    x = torch.rand(5, 3, 32, 32)
    f = fc.penultimate_features(m, x, (0.5,) * 3, (0.5,) * 3, batch=2)
    with torch.no_grad():
        assert torch.allclose(m.fc(f), m((x - 0.5) / 0.5), atol=1e-6)
    assert not m.fc._forward_hooks  # the hook is removed


def test_template_pictures() -> None:
    t = np.zeros((2, 1, 2, 2))
    t[0, 0, 0, 0], t[1, 0, 1, 1] = 2.0, -2.0
    p = figs.template_pictures(t)
    assert p.shape == (2, 2, 2, 3) and tuple(p[0, 0, 0]) == (255, 0, 0) and tuple(p[1, 1, 1]) == (0, 0, 255)
    assert tuple(p[0, 1, 1]) == (255, 255, 255)  # zero weight: white
    rgb = figs.template_pictures(np.random.default_rng(0).normal(size=(3, 3, 4, 4)))
    assert rgb.min() == 0 and rgb.max() == 255
    fig = figs.knn_figure([1, 3], {"pixels": [0.2, 0.3]}, 0.1, "t")
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "test accuracy (%)"


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="expected a data set"):
        fc.LinearConfig(dataset="cifar10")
    with pytest.raises(ValueError, match="expected 10 to 1000 training images for shapes"):
        fc.LinearConfig(dataset="shapes", train_size=1001)
    with pytest.raises(ValueError, match="expected 1 to 300 steps"):
        fc.LinearConfig(steps=0)
    with pytest.raises(ValueError, match="expected every k"):
        fc.knn_predict(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.zeros(1, 2), [4], 2)
    with pytest.raises(ValueError, match=r"expected \(N, D\) and \(M, D\)"):
        fc.knn_predict(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.zeros(1, 3), [1], 2)
    assert fc.default_ks(4, 25) == [1, 3] and fc.default_ks(1000, 9) == [1, 3, 5, 7, 9]


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    from vizcore.cli.main import main

    assert main(["linear-classifier", "--steps", "30", "--train-size", "200", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["template_shape"] == [1, 8, 8] and 0.5 < d["test_accuracy"] <= 1
    assert main(["knn", "--dataset", "digits", "--train-size", "60", "--test-size", "20", "--kmax", "5",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [c["space"] for c in d["curves"]] == ["pixels"] and d["curves"][0]["ks"] == [1, 3, 5]
    assert main(["knn", "--dataset", "digits", "--train-size", "5", "--json"]) == 2
    assert "expected 10..1257 training" in capsys.readouterr().err


def test_a_curve_cut_at_a_smaller_k_is_the_curve_computed_with_those_k():
    s = fc.load_split("digits", 300, 80, seed=0)
    every = fc.knn_curves(s, fc.default_ks(300, 15), show=3)[0]
    for kmax in (1, 2, 3, 9):
        direct = fc.knn_curves(s, fc.default_ks(300, kmax), show=3)[0]
        assert fc.up_to(every, kmax) == direct, kmax
    with pytest.raises(ValueError, match="expected a largest k of at least 1, got 0"):
        fc.up_to(every, 0)
