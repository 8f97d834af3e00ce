"""Adversarial examples (vizcore.robust) against independent truths: a hand-written FGSM/PGD autograd loop, the
analytic flip radius of a hand-weighted model, Spearman and overlap computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizcore.models.preprocess import Preprocess
from vizcore.robust import attacks, steps
from vizcore.robust.attacks import attack
from vizcore.robust.drift import drift, spearman, top_iou
from vizcore.robust.evaluate import min_eps, sweep
from vizcore.robust.steps import perturb

PREP = Preprocess(3, (0.5,), (0.5,))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread beats two contending ones
    yield
    torch.set_num_threads(n)


class ChannelMeans(nn.Module):
    """logit_k = 10 · mean(x_k) − 5 on pixels (5 · mean of the normalised channel k): class k = brightest channel.

    FGSM and PGD in Linf raise every other channel by ε and lower the true one by ε, so an image flips exactly
    when ε > (m_true − max_other m) / 2, m the channel means."""

    def __init__(self, quantise: bool = False, detach: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(5 * torch.eye(3).view(3, 3, 1, 1))
        self.quantise, self.detach = quantise, detach

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.quantise:  # a rounding step: zero gradient almost everywhere (masked)
            z = torch.round(z * 4) / 4
        if self.detach:
            z = z.detach()
        return self.conv(z).mean(dim=(2, 3))


def channel_data(n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images 3x8x8 in [0.25, 0.75]: channel y brighter by a margin in [0.04, 0.2], pixel noise ±0.05."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.4 + (torch.rand(n, 3, 8, 8, generator=g) - 0.5) * 0.1
    margin = 0.04 + 0.16 * torch.rand(n, generator=g)
    x[torch.arange(n), y] += margin[:, None, None]
    return x.clamp(0, 1), y


def flip_radius(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m = x.mean(dim=(2, 3))
    own = m.gather(1, y[:, None])[:, 0]
    other = m.scatter(1, y[:, None], -1.0).amax(1)
    return (own - other) / 2


def tiny_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def hand_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, n_steps: int, alpha: float,
                norm: str, targeted: bool = False, start: torch.Tensor | None = None, project: bool = True):
    """FGSM (n_steps 1, alpha eps, project False) / PGD written out: summed CE of the logits, sign or L2 step,
    torch's clamp / renorm projection, the [0, 1] box."""
    xa = x.clone() if start is None else (x + start).clamp(0, 1)
    for _ in range(n_steps):
        xa = xa.detach().requires_grad_(True)
        loss = F.cross_entropy(model((xa - 0.5) / 0.5), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        with torch.no_grad():
            step = alpha * g.sign() if norm == "linf" else alpha * g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            xa = xa - step if targeted else xa + step
            if project:
                d = xa - x
                d = d.clamp(-eps, eps) if norm == "linf" else torch.renorm(d, 2, 0, eps)
                xa = x + d
            xa = xa.clamp(0, 1)
    return xa.detach()


# ------------------------------------------------------------------------------------------- the attacks

@pytest.mark.parametrize("norm, eps", [("linf", 0.05), ("l2", 0.6)])
def test_fgsm_and_pgd_equal_a_hand_written_loop(norm: str, eps: float) -> None:
    model = tiny_cnn()
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    f = attack(model, PREP, x, y, method="fgsm", eps=eps, norm=norm)
    assert torch.allclose(f.adversarial, hand_attack(model, x, y, eps, 1, eps, norm, project=False), atol=1e-6)
    p = attack(model, PREP, x, y, method="pgd", eps=eps, norm=norm, steps=7)
    ref = hand_attack(model, x, y, eps, 7, 2.5 * eps / 7, norm)
    assert torch.allclose(p.adversarial, ref, atol=1e-6) and not torch.allclose(p.adversarial, f.adversarial)
    t = attack(model, PREP, x, y, method="pgd", eps=eps, norm=norm, steps=3, target=2)
    assert torch.allclose(t.adversarial, hand_attack(model, x, torch.full_like(y, 2), eps, 3, 2.5 * eps / 3, norm,
                                                     targeted=True), atol=1e-6)
    # the fast path the training engine will use: the same images as captum's
    fwd = attacks.pixel_forward(model, PREP)
    assert torch.allclose(perturb(fwd, x, y, eps, method="fgsm", norm=norm), f.adversarial, atol=1e-6)
    assert torch.allclose(perturb(fwd, x, y, eps, method="pgd", norm=norm, steps=7), p.adversarial, atol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_starts_fgsm_rs_and_pgd_agree_with_captum_and_the_hand_loop(norm: str) -> None:
    model = tiny_cnn(1)
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([3, 2, 1, 0, 3])
    eps = 0.04 if norm == "linf" else 0.5
    u = steps.unit_noise(tuple(x.shape), norm, torch.Generator().manual_seed(7), "start")
    rs = attack(model, PREP, x, y, method="fgsm", eps=eps, norm=norm, random_start=True, seed=7)
    assert rs.step_size == pytest.approx(1.25 * eps)
    assert torch.allclose(rs.adversarial, hand_attack(model, x, y, eps, 1, 1.25 * eps, norm, start=u * eps), atol=1e-6)
    fwd = attacks.pixel_forward(model, PREP)
    fast = perturb(fwd, x, y, eps, method="fgsm_rs", norm=norm, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(fast, rs.adversarial, atol=1e-6)
    pg = attack(model, PREP, x, y, method="pgd", eps=eps, norm=norm, steps=4, random_start=True, seed=7)
    fast = perturb(fwd, x, y, eps, method="pgd", norm=norm, steps=4, random_start=True,
                   generator=torch.Generator().manual_seed(7))
    assert torch.allclose(fast, pg.adversarial, atol=1e-6)


def test_random_draws_come_from_the_seed_not_the_global_generator() -> None:
    model, (x, y) = tiny_cnn(), channel_data(6)
    state = torch.random.get_rng_state()
    a = attack(model, PREP, x, y, method="pgd", eps=0.05, steps=2, random_start=True, seed=3).adversarial
    n = attack(model, PREP, x, y, method="noise", eps=0.05, seed=3).adversarial
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, attack(model, PREP, x, y, method="pgd", eps=0.05, steps=2, random_start=True, seed=3).adversarial)
    assert torch.equal(n, attack(model, PREP, x, y, method="noise", eps=0.05, seed=3).adversarial)
    assert not torch.equal(n, attack(model, PREP, x, y, method="noise", eps=0.05, seed=4).adversarial)
    u = steps.unit_noise((400, 3, 4, 4), "l2", torch.Generator().manual_seed(0), "start")
    assert float(u.flatten(1).norm(dim=1).max()) <= 1 + 1e-6


@pytest.mark.parametrize("norm, eps", [("linf", 0.08), ("l2", 0.7)])
def test_the_ball_and_the_box_hold(norm: str, eps: float) -> None:
    model = tiny_cnn()
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    x[:, :, 0] = 0.0  # pixels at the box's edge: the clamp must hold them in
    x[:, :, 1] = 1.0
    y = torch.arange(8) % 4
    for kw in ({"method": "fgsm"}, {"method": "pgd", "steps": 5}, {"method": "pgd", "random_start": True},
               {"method": "fgsm", "random_start": True}, {"method": "noise"}):
        r = attack(model, PREP, x, y, eps=eps, norm=norm, **kw)
        linf, l2 = r.delta_norms()
        assert float(r.adversarial.min()) >= 0 and float(r.adversarial.max()) <= 1, kw
        assert float((linf if norm == "linf" else l2).max()) <= eps + 1e-5, kw


def test_noise_has_the_attacks_size_and_is_far_weaker() -> None:
    model, (x, y) = ChannelMeans(), channel_data(24)
    r = attack(model, PREP, x, y, method="noise", eps=0.1, seed=0)
    assert torch.allclose((r.adversarial - x).abs(), torch.full_like(x, 0.1), atol=1e-6)  # ±ε, nothing clamped
    r2 = attack(model, PREP, x, y, method="noise", eps=0.5, norm="l2")
    assert torch.allclose(r2.delta_norms()[1], torch.full((24,), 0.5), atol=1e-5)
    pgd = attack(model, PREP, x, y, method="pgd", eps=0.1)
    assert r.clean_accuracy == 1.0 and r.adversarial_accuracy >= 0.95 and pgd.adversarial_accuracy <= 0.5


def test_pgd_is_never_weaker_than_fgsm_and_the_sweep_falls() -> None:
    model, (x, y) = ChannelMeans(), channel_data(24)
    s = sweep(model, PREP, x, y, [0.0, 0.02, 0.05, 0.08, 0.12])
    assert s.clean_accuracy == 1.0 and s.accuracy["pgd"][0] == 1.0
    assert all(p <= f for p, f in zip(s.accuracy["pgd"], s.accuracy["fgsm"]))
    assert all(b <= a for a, b in zip(s.accuracy["pgd"], s.accuracy["pgd"][1:])) and s.accuracy["pgd"][-1] == 0.0
    truth = [float((flip_radius(x, y) > e).double().mean()) for e in s.eps]  # the analytic accuracy
    assert s.accuracy["pgd"] == pytest.approx(truth, abs=1 / 24 + 1e-9)
    assert min(s.accuracy["noise"]) >= 0.9
    assert not s.masking_suspected and s.message == "" and s.probe_accuracy == 0.0


@pytest.mark.parametrize("masked", [ChannelMeans(quantise=True), ChannelMeans(detach=True)])
def test_gradient_masking_is_flagged_on_a_masked_model(masked: nn.Module) -> None:
    x, y = channel_data(24)
    s = sweep(masked, PREP, x, y, [0.02, 0.1])
    assert s.masking_suspected and s.message.startswith("gradient masking suspected")
    assert "should fall to about 0" in s.message and s.probe_accuracy is not None and s.probe_accuracy > 0.5
    assert s.accuracy["pgd"][-1] > 0.5  # the number a naive reading would call robustness


def test_masking_checks_in_words() -> None:
    from vizcore.robust.evaluate import masking_problems

    ok = masking_problems({"fgsm": [0.9, 0.5], "pgd": [0.9, 0.3], "noise": [1.0, 0.95]}, [0.01, 0.03], 0.0, 0.5, 100)
    assert ok == []
    bad = masking_problems({"fgsm": [0.9, 0.5], "pgd": [0.95, 0.7], "noise": [1.0, 0.6]}, [0.01, 0.03], 0.4, 0.5, 100)
    assert any("PGD is weaker than FGSM at ε 0.01, 0.03" in p for p in bad)
    assert any("noise of the same size hurts more" in p for p in bad)
    assert any("rises as ε grows" in p for p in masking_problems({"pgd": [0.2, 0.6]}, [0.01, 0.03], None, 0.5, 100))


def test_targeted_attack_raises_the_target_probability() -> None:
    model, (x, y) = ChannelMeans(), channel_data(24)
    r = attack(model, PREP, x, y, method="pgd", eps=0.1, target=2)
    assert r.targets is not None and r.target_prob_clean is not None and r.target_prob_adversarial is not None
    keep = y != 2
    assert bool((r.target_prob_adversarial[keep] > r.target_prob_clean[keep]).all())
    assert r.target_rate is not None and r.target_rate > float((y == 2).double().mean())


def test_attack_restores_the_model_mode_and_leaves_batchnorm_alone() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).train()
    before = model[1].running_mean.clone()
    x, y = channel_data(6)
    attack(model, PREP, x, y, method="pgd", eps=0.03, steps=2)
    assert model.training and model[1].training and torch.equal(model[1].running_mean, before)


# ------------------------------------------------------------------------------------------- minimal ε

def test_min_eps_finds_the_analytic_flip_radius() -> None:
    model, (x, y) = ChannelMeans(), channel_data(24)
    x[0, 0] = 0.4  # image 0: a tie of channel means would be ambiguous; make it wrong instead
    x[0, 1] = 0.6
    y[0] = 0
    r = min_eps(model, PREP, x, y, method="pgd", max_eps=0.15, tol=0.002)
    truth = flip_radius(x, y).double().numpy()
    assert r.already_wrong[0] and r.eps[0] == 0.0 and not r.already_wrong[1:].any() and not r.never.any()
    ok = ~r.already_wrong
    assert np.all(r.eps[ok] >= truth[ok] - 1e-6) and np.all(r.below[ok] <= truth[ok] + 1e-6)
    assert np.all(r.eps[ok] - r.below[ok] <= 0.002 + 1e-12)
    f = min_eps(model, PREP, x, y, method="fgsm", max_eps=0.15, tol=0.002)
    assert np.allclose(f.eps[ok], r.eps[ok], atol=0.0021)
    s = r.summary()
    assert s["median"] == pytest.approx(float(np.median(r.eps[ok]))) and s["share_never_flipped"] == 0.0
    small = min_eps(model, PREP, x, y, method="pgd", max_eps=0.03, tol=0.002)
    assert small.summary()["share_never_flipped"] == pytest.approx(float((truth[ok] > 0.03).mean()), abs=1 / 23)
    assert np.all(np.isinf(small.eps[small.never]))


def test_each_minimal_eps_flips_and_a_slightly_smaller_one_does_not() -> None:
    model = tiny_cnn(3)
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        model[-1].weight.mul_(20)  # confident enough that small ε decide
        y = model((x - 0.5) / 0.5).argmax(1)  # right before the attack
    r = min_eps(model, PREP, x, y, method="pgd", steps=5, max_eps=0.5, tol=0.004)
    assert not r.never.any() and not r.already_wrong.any() and len(set(r.eps.tolist())) > 2
    for i in np.nonzero(~r.never)[0]:
        xi, yi = x[i:i + 1], y[i:i + 1]

        def pred(e: float, xi=xi, yi=yi) -> int:
            # the attack at e as min_eps ran it (ε rounded to float32): 2.5 ε / 5 steps
            e = float(torch.tensor(e, dtype=torch.float32))
            return int(model((hand_attack(model, xi, yi, e, 5, 2.5 * e / 5, "linf") - 0.5) / 0.5).argmax(1))

        assert pred(r.eps[i]) != int(yi) and pred(r.below[i]) == int(yi)
        assert r.eps[i] - r.below[i] <= 0.004 + 1e-12


# ------------------------------------------------------------------------------------------- drift

def test_spearman_and_top_overlap_by_hand() -> None:
    assert spearman(torch.tensor([1.0, 2, 3, 4, 5]), torch.tensor([2.0, 1, 4, 3, 5])) == pytest.approx(0.8)  # 1 − 6·4/120
    assert spearman(torch.ones(3), torch.ones(3)) == 1.0 and spearman(torch.ones(3), torch.arange(3.0)) == 0.0
    a = torch.arange(25.0).reshape(5, 5)  # top 20% = 5 pixels: values 20..24
    b = a.clone().flatten()
    b[[20, 21]] = -1.0  # b's top 5: 18, 19, 22, 23, 24 -> 3 shared of 7
    assert top_iou(a, b.reshape(5, 5), 0.2) == pytest.approx(3 / 7)
    assert top_iou(a, a, 0.2) == 1.0


def test_drift_of_an_attack_against_noise() -> None:
    model, (x, y) = ChannelMeans(), channel_data(6)
    r = attack(model, PREP, x, y, method="pgd", eps=0.0)
    d = drift(model, PREP, r, layer="conv", methods=("gradcam", "saliency"))
    for m in ("gradcam", "saliency"):
        md = d.maps[m]
        assert md.clean.shape == (6, 8, 8) and np.allclose(md.spearman_adversarial, 1.0)
        assert np.allclose(md.iou_adversarial, 1.0)  # ε = 0: the same image, the same map
    r = attack(model, PREP, x, y, method="pgd", eps=0.1)
    d = drift(model, PREP, r, layer="conv", methods=("gradcam",), fraction=0.2)
    md = d.maps["gradcam"]
    manual = [spearman(a, b) for a, b in zip(md.clean, md.adversarial)]
    assert md.spearman_adversarial == pytest.approx(manual) and d.noisy.shape == x.shape
    assert set(md.summary()) == {"spearman_adversarial", "spearman_noise", "iou_adversarial", "iou_noise"}
    assert float((d.noisy - x).abs().max()) <= 0.1 + 1e-6


# ------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kw, message", [
    ({"eps": -0.1}, r"expected eps in \[0.0, 1.0\], got -0.1"),
    ({"eps": math.nan}, "expected eps to be a number"),
    ({"eps": 1.5}, r"expected eps in \[0.0, 1.0\], got 1.5"),
    ({"steps": 0}, r"expected steps in \[1, 1000\], got 0"),
    ({"steps": 1001}, r"expected steps in \[1, 1000\], got 1001"),
    ({"method": "cw"}, "expected method to be one of fgsm, pgd, noise, got 'cw'"),
    ({"norm": "l1"}, "expected norm to be one of linf, l2, got 'l1'"),
    ({"target": 3}, r"expected target classes in \[0, 3\)"),
    ({"target": -1}, r"expected target classes in \[0, 3\)"),
    ({"step_size": 0.0}, r"expected step_size in \(0.0"),
])
def test_bad_arguments_raise_one_sentence(kw: dict, message: str) -> None:
    x, y = channel_data(3)
    with pytest.raises(ValueError, match=message):
        attack(ChannelMeans(), PREP, x, y, **kw)


def test_bad_images_labels_and_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    model, (x, y) = ChannelMeans(), channel_data(3)
    with pytest.raises(ValueError, match=r"expected pixels in \[0, 1\]"):
        attack(model, PREP, x * 2, y)
    with pytest.raises(ValueError, match="expected pixels in"):
        attack(model, PREP, torch.full_like(x, math.nan), y)
    with pytest.raises(ValueError, match=r"expected one integer label per image \(3\)"):
        attack(model, PREP, x, y[:2])
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\)"):
        attack(model, PREP, x, torch.tensor([0, 1, 7]))
    with pytest.raises(ValueError, match="expected images as a float tensor"):
        attack(model, PREP, x[0], y)
    with pytest.raises(ValueError, match="expected between 1 and 32 ε values"):
        sweep(model, PREP, x, y, [])
    with pytest.raises(ValueError, match=r"expected tol in \(0.0"):
        min_eps(model, PREP, x, y, tol=0.0)
    with pytest.raises(ValueError, match="expected a layer for Grad-CAM"):
        drift(model, PREP, attack(model, PREP, x, y, eps=0.01), methods=("gradcam",))
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET_MB", "16")
    big = torch.zeros(200, 3, 32, 32)
    with pytest.raises(ValueError, match=r"a pgd attack on 200 images of 3x32x32 would need about .* above this "
                                         r"server's memory budget"):
        attack(model, PREP, big, torch.zeros(200, dtype=torch.int64))


# ------------------------------------------------------------------------------------------- the shipped model

@pytest.mark.slow
def test_the_shipped_small_cnn_under_attack() -> None:
    from vizcore.data.datasets import load_dataset
    from vizcore.lab.default_model import default_model
    from vizcore.models.weights import load_trained

    model = load_trained(default_model(model="small_cnn"), model="small_cnn")
    ds = load_dataset("shapes", split="val", n=100, size=32, seed=0)
    x, y = ds.images.float() / 255, ds.labels
    # the shipped model's attacks equal the hand-written loops (8 images: equality needs no more)
    f = attack(model, "small_cnn", x[:8], y[:8], method="fgsm", eps=0.03)
    assert torch.allclose(f.adversarial, hand_attack(model, x[:8], y[:8], 0.03, 1, 0.03, "linf", project=False),
                          atol=1e-6)
    p = attack(model, "small_cnn", x[:8], y[:8], method="pgd", eps=0.03)
    assert torch.allclose(p.adversarial, hand_attack(model, x[:8], y[:8], 0.03, 10, 0.0075, "linf"), atol=1e-6)
    strong = attack(model, "small_cnn", x, y, method="pgd", eps=0.3, steps=4)  # 4 steps of 2.5 ε / 4 already break it
    assert strong.clean_accuracy >= 0.9 and strong.adversarial_accuracy < 0.10
    noise = attack(model, "small_cnn", x, y, method="noise", eps=0.03)
    assert abs(noise.adversarial_accuracy - noise.clean_accuracy) <= 0.03


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_attacks_on_cuda_match_the_cpu() -> None:
    model, (x, y) = tiny_cnn(), channel_data(8)
    y = y % 4
    for kw in ({"method": "fgsm"}, {"method": "pgd", "random_start": True}, {"method": "pgd", "norm": "l2", "eps": 0.5,
                                                                              "random_start": True}):
        kw = {"eps": 0.05, **kw}
        cpu = attack(model, PREP, x, y, **kw)
        gpu = attack(model.cuda(), PREP, x.cuda(), y.cuda(), **kw)
        model.cpu()
        assert gpu.adversarial.device.type == "cuda"
        assert torch.allclose(gpu.adversarial.cpu(), cpu.adversarial, atol=1e-5), kw
        assert torch.equal(gpu.adversarial_pred.cpu(), cpu.adversarial_pred)


def test_own_answers_are_the_models_argmax_on_normalised_pixels_and_leave_its_mode_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(5))
    x = torch.rand(6, 3, 8, 8)
    model(x)  # materialise the lazy layer; the model stays in training mode
    prep = Preprocess(channels=3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    expected = model.eval()((x - torch.tensor(prep.mean)[:, None, None]) / torch.tensor(prep.std)[:, None, None])
    model.train()
    got = attacks.own_answers(model, prep, x)
    assert got.dtype == torch.int64 and torch.equal(got, expected.argmax(1))
    assert model.training and all(m.training for m in model.modules())
