"""The fast default recipe: each of its fields honoured, checked against torch or a hand computation, on tiny data."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.helpers import tiny_config, tiny_data
from vizcore.data.imageset import ImageSet
from vizcore.data.pipeline import Step, preset_pipeline
from vizcore.lab import default_model as dm
from vizcore.lab.store import RunStore
from vizcore.models import registry as zoo
from vizcore.models.preprocess import for_model
from vizcore.train import config as train_config
from vizcore.train import data as train_data
from vizcore.train import engine, loop, tricks

pytestmark = pytest.mark.usefixtures("one_thread")


def run(cfg: train_config.TrainConfig, callbacks=()) -> engine.Run:
    r = engine.Run(cfg, data=(tiny_data(cfg.train_size), tiny_data(cfg.val_size, seed=1)), callbacks=callbacks)
    assert r.run_sync() == "done", r.message
    return r


# ---------------------------------------------------------------------------------------- defaults


def test_defaults_are_the_documented_recipe():
    cfg = train_config.TrainConfig()
    doc = train_config.__doc__ or ""
    assert cfg.model == "fast_cnn" and cfg.model in doc
    for text in (f"{cfg.epochs} epochs of {cfg.train_size:,}", f"batch {cfg.batch_size}", f"at {cfg.lr}",
                 f"validated on {cfg.val_size:,}", {0.5: "half an epoch of warmup", 1.0: "one epoch of linear warmup"}.get(
                     cfg.warmup_epochs, f"{cfg.warmup_epochs} epochs of warmup")):
        assert text in doc, text
    assert ("no label smoothing" in doc) == (cfg.label_smoothing == 0.0)
    assert (cfg.whiten_stem, cfg.tta_flip, cfg.channels_last, cfg.augment, cfg.data_seed) == (True, True, True,
                                                                                                "flip", 0)
    docs = train_config.field_docs()
    assert all(docs[f.name] for f in dataclasses.fields(train_config.TrainConfig))


def test_stored_configs_without_the_new_fields_keep_what_they_ran_with():
    old = {"model": "small_cnn", "epochs": 3}
    stored = train_config.TrainConfig.from_dict(old, stored=True)
    assert (stored.whiten_stem, stored.tta_flip, stored.channels_last, stored.data_seed) == (False, False, False,
                                                                                            None)
    fresh = train_config.TrainConfig.from_dict(old)
    assert (fresh.whiten_stem, fresh.tta_flip, fresh.channels_last, fresh.data_seed) == (True, True, True, 0)
    # a field that is present wins over its legacy value
    assert train_config.TrainConfig.from_dict({**old, "tta_flip": True}, stored=True).tta_flip is True


def test_run_store_reads_an_old_record_with_legacy_values(tmp_path):
    db = tmp_path / "runs.sqlite"
    store = RunStore(db)
    rid = store.create(dataclasses.replace(tiny_config(), tta_flip=True, data_seed=0))
    row = store.get(rid).config.to_dict()
    store.close()
    for key in train_config.legacy_values():
        row.pop(key)
    with contextlib.closing(sqlite3.connect(db)) as con, con:  # a record written before the recipe's fields
        con.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(row), rid))
    cfg = RunStore(db).get(rid).config
    assert cfg.tta_flip is False and cfg.data_seed is None and cfg.whiten_stem is False


def test_shipped_default_models_keep_their_training_config():
    """Each shipped checkpoint was trained with the config that names it, so first use reuses it and never
    retrains: small_cnn with the values from before the fast recipe, se_resnet_small (retrained for issue 26)
    with the fast recipe itself."""
    from vizcore.models.weights import checkpoint_meta

    small = dm.DEFAULT_CONFIGS["small_cnn"]
    assert (small.whiten_stem, small.tta_flip, small.channels_last, small.data_seed) == (False, False, False, None)
    assert small.label_smoothing == 0.0 and small.augment == "none" and not small.no_bias_decay
    se = dm.DEFAULT_CONFIGS["se_resnet_small"]
    assert (se.whiten_stem, se.tta_flip, se.channels_last, se.data_seed, se.augment) == (True, True, True, 0, "flip")
    for name, cfg in dm.DEFAULT_CONFIGS.items():
        assert dm._same_config(checkpoint_meta(dm.shipped_path(name))["config"], cfg), name


def test_config_rejects_non_bool_recipe_switches():
    with pytest.raises(ValueError, match="expected tta_flip to be true or false"):
        dataclasses.replace(train_config.TrainConfig(), tta_flip=1)
    with pytest.raises(ValueError, match="data_seed"):
        dataclasses.replace(train_config.TrainConfig(), data_seed=-1)


# ---------------------------------------------------------------------------------------- data seed


def test_data_seed_shares_the_images_across_seeds():
    base = train_config.TrainConfig(train_size=40, val_size=20, image_size=16)
    a, b = (train_data.load_data(dataclasses.replace(base, seed=s)) for s in (3, 4))
    assert torch.equal(a[0].images, b[0].images) and torch.equal(a[1].labels, b[1].labels)
    c, d = (train_data.load_data(dataclasses.replace(base, seed=s, data_seed=None)) for s in (3, 4))
    assert not torch.equal(c[0].images, d[0].images)
    assert dataclasses.replace(base, seed=7, data_seed=None).effective_data_seed == 7


# ---------------------------------------------------------------------------------------- whitened stem


def test_whitening_filters_decorrelate_the_patches():
    g = torch.Generator().manual_seed(0)
    # correlated pixels: smooth noise, so neighbouring pixels and channels covary strongly
    x = F.avg_pool2d(torch.randn(64, 3, 20, 20, generator=g), 3, 1) + 0.3 * torch.randn(64, 1, 18, 18, generator=g)
    w = tricks.patch_whitening_filters(x, (2, 2), 24, eps=1e-9)
    assert w.shape == (24, 3, 2, 2)
    assert torch.equal(w[1::2], -w[0::2])  # each filter and its negative
    out = F.conv2d(x.double(), w[0::2].double())  # the 12 positive filters on every 2x2 patch
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(flat.T, correction=0)
    assert torch.allclose(cov, torch.eye(12, dtype=torch.float64), atol=1e-4)
    with pytest.raises(ValueError, match="at most 2·C·kh·kw = 24"):
        tricks.patch_whitening_filters(x, (2, 2), 25)


@pytest.mark.slow
def test_whiten_stem_sets_and_freezes_the_first_conv():
    cfg = tiny_config(model="fast_cnn", epochs=2, whiten_stem=True)
    seen = {}

    class Grab(loop.Callback):
        def on_setup(self, state):
            seen["stem"] = state.model.stem[0].weight.detach().clone()
            seen["in_optimizer"] = any(p is state.model.stem[0].weight for g in state.optimizer.param_groups
                                       for p in g["params"])

    r = run(cfg, [Grab()])
    data = tiny_data(cfg.train_size)
    pre = for_model("fast_cnn").normalize(data.images[:engine.WHITEN_IMAGES].float() / 255)
    expected = tricks.patch_whitening_filters(pre, (2, 2), 24)
    assert torch.allclose(seen["stem"], expected, atol=1e-6)
    assert r.model is not None and torch.allclose(r.model.stem[0].weight, expected, atol=1e-6)  # not trained
    assert not seen["in_optimizer"] and r.info["whitened_stem"] == "stem.0"
    assert float(r.model.stem[0].bias.abs().max()) == 0.0
    plain = run(dataclasses.replace(cfg, whiten_stem=False))
    init = zoo.build_model("fast_cnn", num_classes=4, seed=cfg.seed).stem[0].weight
    assert plain.model is not None and not torch.allclose(plain.model.stem[0].weight, init)  # it trains


# ---------------------------------------------------------------------------------------- flip TTA


def test_tta_flip_averages_the_logits_of_each_image_and_its_mirror():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 1 * 3, 2))  # not mirror-symmetric
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0, -1.0, 0.5, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0, 1.0]]))
        model[1].bias.zero_()
    x = torch.tensor([[[[10, 0, 200]], [[5, 50, 0]]], [[[0, 90, 30]], [[7, 0, 255]]]], dtype=torch.uint8)
    y = torch.tensor([0, 1])

    def prepare(xb: torch.Tensor) -> torch.Tensor:
        return xb.float() / 255

    with torch.no_grad():
        logits = (model(prepare(x)) + model(prepare(x.flip(-1)))) / 2
        plain = model(prepare(x))
    loss, acc = loop.evaluate(model, x, y, prepare, tta_flip=True)
    assert loss == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)
    assert acc == float((logits.argmax(1) == y).float().mean())
    plain_loss, _ = loop.evaluate(model, x, y, prepare)
    assert plain_loss == pytest.approx(float(F.cross_entropy(plain, y)), rel=1e-6)
    assert plain_loss != pytest.approx(loss)


# ---------------------------------------------------------------------------------------- channels_last


@pytest.mark.parametrize("on", [True, False])
def test_channels_last_sets_the_memory_format_of_weights_and_inputs(on):
    fmt = {}

    class Grab(loop.Callback):
        def on_setup(self, state):
            fmt["weight"] = state.model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
            fmt["input"] = state.prepare(state.x_train[:4]).is_contiguous(memory_format=torch.channels_last)

    run(tiny_config(channels_last=on), [Grab()])
    assert fmt == {"weight": on, "input": on}


# ---------------------------------------------------------------------------------------- flip preset


def test_flip_preset_flips_about_half_and_never_crops():
    pipe = preset_pipeline("flip")
    assert pipe.steps == (Step("hflip", 0.5),)
    x = tiny_data(64, size=8).images
    out, _ = pipe.run(x, torch.Generator().manual_seed(0))
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 16 <= sum(mirrored) <= 48


# ---------------------------------------------------------------------------------------- the whole recipe


def mirror_invariant_data(n: int, seed: int) -> ImageSet:
    """Noise with a bright horizontal band whose height says the class: a left-right flip keeps the label."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.rand(n, 3, 32, 32, generator=g) * 60
    for i in range(n):
        x[i, :, 8 * int(y[i]):8 * int(y[i]) + 8, :] += 150
    return ImageSet(x.to(torch.uint8), y, tuple(f"band{i}" for i in range(4)))


def test_the_recipe_trains_end_to_end_on_tiny_data():
    # every recipe field at its default but the sizes, and a gentler peak LR: 20 steps are not 250 (the default
    # epoch of warmup takes 4 of them; batch norm's running statistics settle as the cosine ends)
    cfg = dataclasses.replace(train_config.TrainConfig(), dataset="tensors", train_size=64, val_size=32,
                              batch_size=16, epochs=5, lr=0.1, device="cpu", log_every=2)
    r = engine.Run(cfg, data=(mirror_invariant_data(64, 0), mirror_invariant_data(32, 1)))
    assert r.run_sync() == "done", r.message
    assert r.history[-1]["val_acc"] >= 0.75 and r.info["whitened_stem"] == "stem.0"
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
