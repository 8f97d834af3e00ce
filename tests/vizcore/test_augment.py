"""vizcore.data.augment: presets keep dtype/shape, drawn parameters match their application, MixUp/CutMix algebra."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from vizcore.data import augment as A
from vizcore.data.augment import (
    AugmentConfig,
    MixParams,
    apply_mix,
    apply_params,
    augment,
    draw_params,
    mix_batch,
    preview,
)
from vizcore.data.auto_ops import policy


def _images(n: int = 12, c: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", A.PRESETS)
@pytest.mark.parametrize("channels", [1, 3])
def test_presets_keep_dtype_and_shape_and_are_seeded(preset: str, channels: int) -> None:
    x = _images(c=channels)
    cfg = AugmentConfig(preset=preset)
    y1, p1 = augment(x, cfg, torch.Generator().manual_seed(5))
    y2, _ = augment(x, cfg, torch.Generator().manual_seed(5))
    assert y1.dtype == torch.uint8 and y1.shape == x.shape
    assert torch.equal(y1, y2)
    if preset == "none":
        assert torch.equal(y1, x) and all(p1.describe(i) == "unchanged" for i in range(len(x)))
    else:
        assert not torch.equal(y1, x)


def test_flip_crop_equals_pad_then_crop_per_image() -> None:
    x = _images(20, size=12)
    cfg = AugmentConfig(preset="flip_crop", crop_padding=3)
    p = draw_params(cfg, 20, 12, 12, torch.Generator().manual_seed(1))
    out = apply_params(x, p)
    for i in range(20):
        xi = x[i].flip(-1) if bool(p.flip[i]) else x[i]
        padded = F.pad(xi[None].float(), (3, 3, 3, 3), mode="reflect")[0]
        t, left = p.crop[i].tolist()
        assert torch.equal(out[i], padded[:, t:t + 12, left:left + 12].to(torch.uint8))
    assert 0 < int(p.flip.sum()) < 20 and p.crop.min() >= 0 and p.crop.max() <= 6


@pytest.mark.parametrize("preset", ["randaugment", "trivialaugment"])
def test_batched_ops_equal_torchvision_per_image(preset: str) -> None:
    x = _images(24, size=16, seed=3)
    cfg = AugmentConfig(preset=preset, crop_padding=0)
    p = draw_params(cfg, 24, 16, 16, torch.Generator().manual_seed(2))
    out = apply_params(x, p)
    ref = policy("ra") if preset == "randaugment" else policy("ta")
    for i in range(24):
        r = x[i:i + 1].flip(-1) if bool(p.flip[i]) else x[i:i + 1]
        for name, mag in p.ops[i]:
            r = ref._apply_image_or_video_transform(r, name, mag, interpolation=ref.interpolation, fill=ref._fill)
        assert torch.equal(out[i], r[0]), p.describe(i)


def test_randaugment_draws_n_ops_at_magnitude_m() -> None:
    cfg = AugmentConfig(preset="randaugment", randaugment_n=3, randaugment_m=12)
    p = draw_params(cfg, 200, 32, 32, torch.Generator().manual_seed(0))
    space = policy("ra")._AUGMENTATION_SPACE
    names = set()
    for ops in p.ops:
        assert len(ops) == 3
        for name, mag in ops:
            names.add(name)
            table = space[name][0](A.NUM_MAGNITUDE_BINS, 32, 32)
            assert abs(mag) == pytest.approx(0.0 if table is None else float(table[12]))
    assert names == set(A.RANDAUGMENT_OPS)  # 600 draws reach all 14 operations


def test_trivialaugment_draws_one_op_at_varied_magnitudes() -> None:
    p = draw_params(AugmentConfig(preset="trivialaugment"), 300, 32, 32, torch.Generator().manual_seed(0))
    assert all(len(ops) == 1 for ops in p.ops)
    rot = {abs(ops[0][1]) for ops in p.ops if ops[0][0] == "Rotate"}
    assert len(rot) > 5 and max(rot) <= 135.0


def test_mixup_labels_and_images_follow_lambda() -> None:
    x = _images(8)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    cfg = AugmentConfig(mixup_alpha=0.4)
    xm, ym, mp = mix_batch(x, y, 10, cfg, torch.Generator().manual_seed(3))
    assert mp.kind == "mixup" and 0.0 <= mp.lam <= 1.0
    lam = mp.lam
    assert torch.allclose(ym.sum(1), torch.ones(8))
    expect = lam * F.one_hot(y, 10).float() + (1 - lam) * F.one_hot(y.roll(1), 10).float()
    assert torch.allclose(ym, expect, atol=1e-6)
    xf = x.float() / 255.0
    assert torch.allclose(xm, lam * xf + (1 - lam) * xf.roll(1, 0), atol=1e-5)


def test_cutmix_area_matches_lambda() -> None:
    n, s = 6, 20
    x = (torch.arange(n, dtype=torch.uint8) * 40)[:, None, None, None].expand(n, 3, s, s).contiguous()
    y = torch.arange(n)
    g = torch.Generator().manual_seed(0)
    seen = 0
    for _ in range(10):
        xm, ym, mp = mix_batch(x, y, n, AugmentConfig(cutmix_alpha=1.0), g)
        assert mp.kind == "cutmix"
        from_partner = (xm * 255).round() != x.float()  # constant images: pasted pixels show the partner's value
        area = from_partner[:, 0].float().mean(dim=(1, 2))
        x1, y1, x2, y2 = mp.box
        assert torch.allclose(area, torch.full((n,), (x2 - x1) * (y2 - y1) / (s * s)))
        assert torch.allclose(ym.sum(1), torch.ones(n))
        assert torch.allclose(ym[torch.arange(n), y], 1 - area, atol=1e-6)  # own label weight = 1 - pasted area
        seen += int(area[0] > 0)
    assert seen > 0


def test_mixing_uses_only_the_generator() -> None:
    state = torch.get_rng_state()
    cfg = AugmentConfig(mixup_alpha=0.2, cutmix_alpha=1.0)
    a = mix_batch(_images(4), torch.arange(4), 4, cfg, torch.Generator().manual_seed(9))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    b = mix_batch(_images(4), torch.arange(4), 4, cfg, torch.Generator().manual_seed(9))
    assert a[2] == b[2] and torch.equal(a[0], b[0])
    kinds = {mix_batch(_images(4), torch.arange(4), 4, cfg, torch.Generator().manual_seed(s))[2].kind for s in range(20)}
    assert kinds == {"mixup", "cutmix"}


def test_mix_probability_zero_and_off() -> None:
    x, y = _images(4), torch.arange(4)
    for cfg in (AugmentConfig(mixup_alpha=0.2, mix_prob=0.0), AugmentConfig()):
        xm, ym, mp = mix_batch(x, y, 5, cfg, torch.Generator().manual_seed(0))
        assert mp.kind == "none" and torch.equal(ym, F.one_hot(y, 5).float())
        assert torch.allclose(xm, x.float() / 255.0)


def test_apply_mix_errors() -> None:
    with pytest.raises(ValueError, match="labels in"):
        apply_mix(_images(2), torch.tensor([0, 7]), 3, MixParams("mixup", 0.5))
    with pytest.raises(ValueError, match="one label per image"):
        apply_mix(_images(2), torch.tensor([0]), 3, MixParams("mixup", 0.5))


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset="autoaugment"), "expected preset in"),
    (dict(crop_padding=-1), "crop_padding between"),
    (dict(randaugment_n=0), "randaugment_n"),
    (dict(randaugment_m=31), "randaugment_m"),
    (dict(mixup_alpha=-0.1), "mixup_alpha between"),
    (dict(cutmix_alpha=11.0), "cutmix_alpha between"),
    (dict(mix_prob=1.5), "mix_prob between"),
])
def test_config_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**kwargs)


def test_config_is_frozen_and_replaceable() -> None:
    cfg = AugmentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.preset = "none"  # type: ignore[misc]
    assert dataclasses.replace(cfg, cutmix_alpha=1.0).mixes and not cfg.mixes


def test_augment_rejects_float_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        augment(torch.zeros(2, 3, 8, 8), AugmentConfig(), torch.Generator())


def test_preview_and_figures() -> None:
    from vizcore.figures import images as figures

    x = _images(4, size=16)
    cfg = AugmentConfig(preset="randaugment", cutmix_alpha=1.0)
    pv = preview(x, cfg, seed=1, repeats=2, labels=torch.arange(4), num_classes=4)
    assert pv.augmented.shape == (4, 2, 3, 16, 16) and len(pv.captions) == 4 and len(pv.captions[0]) == 2
    for caps, shorts in zip(pv.captions, pv.short_captions):  # the short caption names the same operations
        for cap, short in zip(caps, shorts):
            assert all(part.split()[0] in cap for part in short.split(", "))
    assert pv.mixed is not None and pv.mixed.dtype == torch.uint8 and pv.mix_caption.startswith("CutMix")
    assert torch.equal(preview(x, cfg, seed=1, repeats=2).augmented, pv.augmented)
    grid = figures.image_grid(x, titles=list("abcd"), cols=2, title="t")
    assert figures.pixels_of_source(grid.data[0].source).shape[1] > 2 * 16 and grid.layout.xaxis.title.text
    # a title above each cell's centre, row by row (2 columns of 16-pixel cells, 1-pixel gaps)
    notes = grid.layout.annotations
    assert [a.text for a in notes] == list("abcd") and [a.x for a in notes] == [7.5, 24.5, 7.5, 24.5]
    assert notes[0].y == notes[1].y < notes[2].y == notes[3].y and all(a.yanchor == "bottom" for a in notes)
    with pytest.raises(ValueError, match="expected 4 titles"):
        figures.image_grid(x, titles=["a"])


def test_cli_augment(capsys: pytest.CaptureFixture) -> None:
    import json

    from vizcore.cli.main import main

    assert main(["augment", "--preset", "randaugment", "--cutmix", "1", "--n", "3", "--repeats", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["images"]) == 3 and all(len(i["copies"]) == 2 for i in out["images"])
    assert out["mix"].startswith("CutMix") and out["mixed_label_sums"] == pytest.approx([1.0] * 3)
    assert main(["augment", "--preset", "autoaugment"]) == 2
    assert "expected preset in" in capsys.readouterr().err


@pytest.mark.parametrize("lam, seed", [(0.3, 0), (0.75, 1), (0.05, 2), (0.99, 3)])
def test_cutmix_box_matches_torchvision_make_params(lam: float, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.transforms import v2

    h, w = 24, 40
    lam = float(torch.tensor(lam))  # torchvision's Beta sample is float32: compare at the same lambda
    t = v2.CutMix(alpha=1.0, num_classes=3)
    monkeypatch.setattr(t._dist, "sample", lambda shape=(): torch.tensor(lam))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        r_x, r_y = int(torch.randint(w, size=(1,))), int(torch.randint(h, size=(1,)))
        torch.manual_seed(seed)
        ref = t.make_params([torch.zeros(2, 3, h, w)])
    box, lam_adj = A.cutmix_box(lam, r_x, r_y, h, w)
    assert box == tuple(ref["box"]) and lam_adj == pytest.approx(ref["lam_adjusted"])
