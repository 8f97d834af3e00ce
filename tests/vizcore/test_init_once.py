"""Building a model with each tensor's values drawn once (vizcore/models/init_once.py): the same distributions as a
plain build, the overwritten first draws skipped, and a plain build whenever the meta device's run is no guide."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from vizcore.core.meta import on_meta
from vizcore.models import registry as zoo
from vizcore.models.init_once import _Note, build_once


def _plain(build, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _once(build, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_once(build)


def _same_distributions(a: nn.Module, b: nn.Module) -> int:
    """Every tensor of ``a`` against ``b``'s (a plain build): buffers and constant tensors equal, random ones of
    1,000 values or more with the same mean and spread (within five standard errors of the difference of two
    samples of n values: 5·sqrt(2/n) of the spread for the means, 5/sqrt(n) relative for the spreads); returns
    how many random tensors differ."""
    differ = 0
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k, x in sa.items():
        y = sb[k]
        assert x.shape == y.shape and x.dtype == y.dtype, k
        if not y.is_floating_point() or y.numel() <= 1 or float(y.std()) == 0:
            assert torch.equal(x, y), k
            continue
        assert torch.isfinite(x).all(), k
        differ += not torch.equal(x, y)
        if y.numel() >= 1000:
            n = y.numel()
            assert abs(float(x.std()) / float(y.std()) - 1) < 5 / n**0.5, k
            assert abs(float(x.mean()) - float(y.mean())) < 5 * (2 / n) ** 0.5 * float(y.std()), k
        else:  # a few values: drawn from the same range
            assert float(x.abs().max()) <= 4 * float(y.abs().max()) + 1e-6, k
    return differ


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_same_distributions_as_a_plain_build_with_the_first_draws_skipped(name: str) -> None:
    build = lambda: torchvision.models.get_model(name, num_classes=10)  # noqa: E731
    note = _Note()
    with on_meta(), note:
        build()
    assert sum(note.dead) > 0.25 * len(note.steps)  # default inits the model's own loop draws again
    once, plain = _once(build), _plain(build)
    assert _same_distributions(once, plain) > 0  # other draws, the same laws
    assert all(torch.equal(x, y) for x, y in zip(_once(build).state_dict().values(), once.state_dict().values()))
    x = torch.randn(2, 3, 64, 64)
    assert torch.isfinite(once.eval()(x)).all()


def test_vgg_draws_only_its_own_initialisation() -> None:
    """VGG's dead steps are the layers' default draws, the live ones VGG's own loop (kaiming-normal convolutions,
    N(0, 0.01) linear layers, zero biases) — checked on the meta device, where nothing is drawn."""
    note = _Note()
    with on_meta(), note:
        torchvision.models.vgg11()
    live = {s for s, d in zip(note.steps, note.dead) if not d}
    dead = {s for s, d in zip(note.steps, note.dead) if d}
    assert {op for op, _ in dead} == {"kaiming_uniform_", "uniform_"}
    # VGG's loop: normal draws for every convolution (kaiming) and linear weight, zeros for the biases
    assert {(op, len(shape)) for op, shape in live} == {("normal_", 4), ("normal_", 2), ("constant_", 1)}
    assert sum(note.dead) == len(note.steps) // 2  # each weight and bias drawn twice by a plain build


def test_the_zoo_builds_vgg_this_way(monkeypatch) -> None:
    import vizcore.models.init_once as init_once

    once: list[str] = []
    real = init_once.build_once
    monkeypatch.setattr(init_once, "build_once", lambda build: once.append("x") or real(build))
    monkeypatch.setattr(torchvision.models, "get_model", lambda name, **kw: nn.Linear(4, 4))  # no 500 MB here
    for name in ("vgg11", "vgg16", "vgg19", "resnet18"):
        zoo.build_model(name)
    assert len(once) == 3


class _MetaAware(nn.Module):
    """Initialises differently on the meta device: the real run meets other steps than the meta run noted."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(40, 40), nn.Linear(40, 40)
        if not self.a.weight.is_meta:
            nn.init.zeros_(self.b.bias)
        nn.init.normal_(self.a.weight, 0, 0.01)


class _ReadsValues(nn.Module):
    """Reads its own values while building: impossible on the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(40, 40)
        self.scale = float(self.a.weight.detach().abs().max())
        nn.init.normal_(self.a.weight, 0, self.scale)


@pytest.mark.parametrize("cls", [_MetaAware, _ReadsValues])
def test_anything_the_meta_run_cannot_predict_builds_the_plain_way(cls) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        once = build_once(cls)
        after_once = torch.rand(3)
        torch.manual_seed(3)
        plain = cls()
        after_plain = torch.rand(3)
    assert all(torch.equal(x, y) for x, y in zip(once.state_dict().values(), plain.state_dict().values()))
    assert torch.equal(after_once, after_plain)  # the generator where a plain build leaves it


def test_a_value_read_between_two_fills_keeps_the_first() -> None:
    class Reads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(40, 40)  # default draw ...
            self.copy = nn.Parameter(self.a.weight.detach().clone())  # ... read here ...
            nn.init.normal_(self.a.weight, 0, 0.01)  # ... then drawn again

    note = _Note()
    with on_meta(), note:
        Reads()
    assert note.steps[0] == ("kaiming_uniform_", (40, 40)) and not note.dead[0]
    m = _once(Reads)
    assert float(m.copy.detach().std()) > 0.05  # the default draw (bound 1/sqrt(40)), not zeros or garbage


def test_on_the_meta_device_a_plain_build() -> None:
    with torch.device("meta"):
        m = build_once(lambda: nn.Linear(4, 4))
    assert m.weight.is_meta


def test_a_model_to_load_draws_nothing_and_loads_exactly(tmp_path) -> None:
    """Built to receive a checkpoint: no parameter is drawn (the generator does not move), buffers are made as
    usual (batch norm's running variance of ones), and after the strict load every tensor is the file's."""
    from vizcore.models import weights as mweights
    from vizcore.models.init_once import build_to_load

    ref = mweights.get_model("resnet18", num_classes=5, seed=3)
    path = tmp_path / "r18.pt"
    torch.save(ref.state_dict(), path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        before = torch.random.get_rng_state()
        bare = build_to_load(lambda: torchvision.models.resnet18(num_classes=5))
        assert torch.equal(torch.random.get_rng_state(), before)  # nothing drawn
    assert torch.equal(bare.bn1.running_var, torch.ones(64)) and torch.equal(bare.bn1.running_mean, torch.zeros(64))
    loaded = mweights.get_model("resnet18", weights=path, num_classes=5)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), ref.state_dict().values()))
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(loaded(x), ref.eval()(x))


def test_a_model_with_a_buffer_no_load_sets_is_built_the_plain_way() -> None:
    from vizcore.models.init_once import build_to_load

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.register_buffer("scale", torch.full((8,), 2.0), persistent=False)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        before = torch.random.get_rng_state()
        m = build_to_load(Scaled)
        assert not torch.equal(torch.random.get_rng_state(), before)  # built again, drawing its weights
    assert torch.equal(m.scale, torch.full((8,), 2.0)) and torch.isfinite(m.a.weight).all()


def test_a_model_built_to_load_skips_the_meta_run_of_build_once(monkeypatch) -> None:
    """VGG's draw-once build inside a build to load: nothing is drawn anyway, so no meta run is made for it."""
    import vizcore.models.init_once as init_once

    notes: list[object] = []
    real = init_once._Note
    monkeypatch.setattr(init_once, "_Note", lambda: notes.append(1) or real())
    build = lambda: init_once.build_once(lambda: nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8)))  # noqa: E731
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        before = torch.random.get_rng_state()
        init_once.build_to_load(build)
        assert torch.equal(torch.random.get_rng_state(), before) and notes == []
    init_once.build_once(lambda: nn.Linear(8, 8))
    assert notes == [1]  # outside a build to load, the meta run happens
