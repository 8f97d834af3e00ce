"""The training engine: each trick checked against its formula or against torch itself, on tiny models/data."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import tiny_config, tiny_data
from vizcore.data.augment import mix_batch
from vizcore.models import preprocess
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights
from vizcore.train import config as train_config
from vizcore.train import data as train_data
from vizcore.train import engine, loop, memory, tricks
from vizcore.train import schedule as lr_sched
from vizcore.train.preflight import preflight

pytestmark = pytest.mark.usefixtures("one_thread")


def run(cfg: train_config.TrainConfig, data=None, **kw) -> tuple[engine.Run, list[dict]]:
    r = engine.Run(cfg, data=data or (tiny_data(cfg.train_size), tiny_data(cfg.val_size, seed=1)), **kw)
    events: list[dict] = []
    r.subscribe(events.append)
    r.run_sync()
    return r, events


# ---------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("field,value,match", [
    ("epochs", 0, "epochs"), ("epochs", 201, "epochs"), ("batch_size", 5000, "batch_size"),
    ("image_size", 4, "image_size"), ("lr", 0.0, "lr"), ("lr", float("nan"), "lr"),
    ("optimizer", "rmsprop", "optimizer"), ("schedule", "poly", "schedule"), ("precision", "int8", "precision"),
    ("augment", "autoaugment", "augment"), ("label_smoothing", 1.0, "label_smoothing"),
    ("model", "resnet1000", "model name"), ("train_size", 10**7, "train_size"), ("warmup_epochs", 9.0, "warmup"),
    ("transfer", "linear_probe", "transfer_from"), ("epochs", True, "epochs"),
])
def test_config_rejects_out_of_bounds(field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(train_config.TrainConfig(), **{field: value})


def test_config_json_round_trip_and_unknown_keys():
    cfg = train_config.TrainConfig(epochs=3, mixup_alpha=0.2, distill_teacher="abc")
    assert train_config.TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown lr_max"):
        train_config.TrainConfig.from_dict({"lr_max": 1})
    with pytest.raises(ValueError, match="invalid JSON"):
        train_config.TrainConfig.from_json("{epochs: 3")


def test_linear_scaling_rule():
    assert train_config.TrainConfig(lr=0.1, batch_size=512, linear_scaling=True).effective_lr == pytest.approx(0.2)
    assert train_config.TrainConfig(lr=0.1, batch_size=512).effective_lr == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------- LR schedule


def optimizer_lrs(cfg: train_config.TrainConfig, spe: int) -> list[float]:
    """The LR the optimizer actually holds at each step, driven by the engine's scheduler."""
    p = nn.Parameter(torch.zeros(1))
    opt = tricks.make_optimizer([{"params": [p], "lr": cfg.effective_lr}], cfg)
    sched = lr_sched.make_scheduler(opt, cfg, spe)
    lrs = []
    for _ in range(cfg.epochs * spe):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return lrs


def test_warmup_cosine_matches_closed_form_and_optimizer():
    cfg = train_config.TrainConfig(epochs=4, lr=0.4, warmup_epochs=1, schedule="cosine")
    spe, eta = 5, 0.4
    w, n = 5, 20
    # Goyal et al.: lr = eta * (t + 1) / W during warmup; then SGDR's half cosine from eta to 0 over the rest.
    m = w - 1
    expected = [eta * (t + 1) / w if t < m else eta * (1 + math.cos(math.pi * (t - m) / (n - m))) / 2 for t in range(n)]
    sched = lr_sched.lr_schedule(cfg, spe)
    np.testing.assert_allclose(sched, expected, rtol=1e-12)
    np.testing.assert_allclose(optimizer_lrs(cfg, spe), expected, rtol=1e-6)
    assert sched[m] == pytest.approx(eta) and sched[0] == pytest.approx(eta / w)
    assert np.all(np.diff(sched[:w]) > 0) and np.all(np.diff(sched[m:]) < 0)


@pytest.mark.parametrize("schedule,warmup", [("step", 0.0), ("step", 1.0), ("constant", 0.5), ("constant", 0.0),
                                             ("cosine", 0.0)])
def test_other_schedules_match_optimizer(schedule, warmup):
    cfg = train_config.TrainConfig(epochs=6, lr=0.1, schedule=schedule, warmup_epochs=warmup, step_size=2, gamma=0.5)
    spe = 4
    np.testing.assert_allclose(optimizer_lrs(cfg, spe), lr_sched.lr_schedule(cfg, spe), rtol=1e-6)
    if schedule == "step" and warmup == 0:  # decays by gamma every step_size epochs
        np.testing.assert_allclose(lr_sched.lr_schedule(cfg, spe)[::8], [0.1, 0.05, 0.025], rtol=1e-12)


def test_engine_uses_the_schedule():
    cfg = tiny_config(epochs=2, train_size=64, batch_size=16, warmup_epochs=1.0, schedule="cosine", lr=0.02)
    _, events = run(cfg)
    used = [e["lr"] for e in events if e["kind"] == "step"]
    np.testing.assert_allclose(used, lr_sched.lr_schedule(cfg, 4), rtol=1e-6)


# ---------------------------------------------------------------------------------------- tricks


def test_label_smoothing_loss_of_confident_prediction_matches_formula():
    logits = torch.tensor([[8.0, 0.0, 0.0, 0.0]])
    y = torch.tensor([0])
    eps, k = 0.1, 4
    logp = torch.log_softmax(logits, 1)[0]
    formula = -((1 - eps + eps / k) * logp[0] + sum(eps / k * logp[j] for j in range(1, k)))
    smooth = tricks.make_criterion(tiny_config(label_smoothing=eps))(logits, y)
    plain = tricks.make_criterion(tiny_config())(logits, y)
    assert float(smooth) == pytest.approx(float(formula), rel=1e-6)
    assert float(plain) == pytest.approx(float(-logp[0]), rel=1e-6)
    assert float(smooth) > 10 * float(plain)  # a confident right answer is penalised


def test_zero_gamma_makes_residual_blocks_identities():
    from torchvision.models.resnet import BasicBlock, Bottleneck

    with torch.random.fork_rng(devices=[]):  # seeded layers; the global RNG is restored afterwards
        torch.manual_seed(0)
        down = nn.Sequential(nn.Conv2d(16, 64, 1, bias=False), nn.BatchNorm2d(64))
        blocks = nn.Sequential(BasicBlock(16, 16), Bottleneck(16, 16, downsample=down))
    se = zoo.build_model("se_resnet_small", num_classes=3)
    assert tricks.zero_gamma_(blocks) == ["0.bn2", "1.bn3"]
    assert len(tricks.zero_gamma_(se)) == 6
    x = torch.randn(2, 16, 8, 8)
    torch.set_grad_enabled(False)
    for mode in ("train", "eval"):
        blocks.train(mode == "train")
        np.testing.assert_allclose(blocks[0](x), torch.relu(x), atol=1e-6)
        np.testing.assert_allclose(blocks[1](x).detach(), torch.relu(down(x)).detach(), atol=1e-6)
    se.eval()
    h = se.stem(torch.randn(2, 3, 16, 16))
    for block in [*se.layer1, *se.layer2]:
        identity = h if block.downsample is None else block.downsample(h)
        out = block(h)
        np.testing.assert_allclose(out.detach(), torch.relu(identity).detach(), atol=1e-6)
        h = out
    torch.set_grad_enabled(True)
    assert tricks.zero_gamma_(zoo.build_model("small_cnn")) == []  # no residual blocks: nothing to zero


def test_no_bias_decay_groups_and_their_effect():
    model = zoo.build_model("small_cnn", num_classes=3)
    groups = tricks.param_groups(model, 0.1, True, lr=1.0)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"all/decay", "all/no_decay"}
    decay_ids = {id(p) for p in by_name["all/decay"]["params"]}
    for name, p in model.named_parameters():
        is_bias_or_bn = name.endswith(".bias") or isinstance(model.get_submodule(name.rsplit(".", 1)[0]), nn.BatchNorm2d)
        assert (id(p) not in decay_ids) == is_bias_or_bn, name
    assert by_name["all/no_decay"]["weight_decay"] == 0.0 and by_name["all/decay"]["weight_decay"] == 0.1
    # With zero gradients, one plain SGD step shrinks decayed weights by lr*wd and leaves the rest alone.
    opt = torch.optim.SGD(groups, lr=1.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        factor = 0.9 if id(p) in decay_ids else 1.0
        np.testing.assert_allclose(p.detach(), before[n] * factor, rtol=1e-6, atol=1e-7)
    assert len(tricks.param_groups(model, 0.1, False, lr=1.0)) == 1


def test_kd_loss_matches_formula_on_a_fixed_example():
    s = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    t = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
    y = np.array([2, 0])
    temp, alpha = 2.0, 0.7

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    ps, pt = softmax(s / temp), softmax(t / temp)
    kl = np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1))
    ce = np.mean(-np.log(softmax(s)[np.arange(2), y]))
    expected = alpha * temp ** 2 * kl + (1 - alpha) * ce
    got = tricks.kd_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), temp, alpha)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="teacher logits"):
        tricks.kd_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.tensor(y), temp, alpha)


def test_mixup_and_cutmix_give_soft_labels():
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    y = torch.arange(8) % 4
    for kw, kind in (({"mixup_alpha": 0.4}, "mixup"), ({"cutmix_alpha": 1.0}, "cutmix")):
        cfg = train_data.augment_config(tiny_config(**kw))
        xm, soft, params = mix_batch(x, y, 4, cfg, torch.Generator().manual_seed(3))
        assert params.kind == kind and soft.shape == (8, 4)
        np.testing.assert_allclose(soft.sum(1), np.ones(8), rtol=1e-6)
        partner = y.roll(1)  # torchvision pairs image i with image i-1
        for i in range(8):
            expect = torch.zeros(4)
            expect[y[i]] += params.lam
            expect[partner[i]] += 1 - params.lam
            np.testing.assert_allclose(soft[i], expect, atol=1e-6)


def test_adapt_channels():
    rgb = torch.rand(2, 3, 4, 4)
    grey = preprocess.adapt_channels(rgb, 1)
    np.testing.assert_allclose(grey[:, 0], 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2], rtol=1e-6)
    assert torch.equal(preprocess.adapt_channels(grey, 3)[:, 2], grey[:, 0])
    with pytest.raises(ValueError, match="1 or 3 channels"):
        preprocess.adapt_channels(torch.rand(1, 2, 4, 4), 3)


# ---------------------------------------------------------------------------------------- runs


def test_run_learns_streams_events_and_grey_data_on_rgb_model(tmp_path):
    cfg = tiny_config(epochs=3, lr=0.05, batch_size=16)
    data = (tiny_data(64, channels=1), tiny_data(32, channels=1, seed=1))
    r, events = run(cfg, data, checkpoint_path=tmp_path / "m.pt")
    assert r.status == "done", r.message
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "status" and kinds[-1] == "status" and kinds.count("epoch") == 3
    eps = [e for e in events if e["kind"] == "epoch"]
    # learns: loss falls, training images fitted, validation above chance (BN statistics lag after 12 steps)
    assert eps[-1]["train_loss"] < eps[0]["train_loss"] / 3 and eps[-1]["train_acc"] >= 0.9
    assert eps[-1]["val_acc"] >= 0.5
    m = mweights.load_trained(tmp_path / "m.pt")
    assert mweights.checkpoint_meta(tmp_path / "m.pt")["classes"] == list(data[0].classes)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(m(x), r.model(x))


@pytest.mark.slow
def test_same_seed_same_metrics_other_seed_differs():
    cfg = tiny_config(epochs=2, augment="flip_crop", mixup_alpha=0.2, cutmix_alpha=1.0, mix_prob=0.8, batch_size=16)
    metrics = []
    for c in (cfg, cfg, dataclasses.replace(cfg, seed=1)):
        r, events = run(c)
        assert r.status == "done", r.message
        metrics.append([(e["train_loss"], e["val_loss"]) for e in events if e["kind"] == "epoch"])
    assert metrics[0] == metrics[1]
    assert metrics[0] != metrics[2]


def test_nan_loss_ends_diverged():
    # lr 10 with weight decay 1: each step multiplies the weights by about -9, so they overflow to inf/NaN.
    cfg = tiny_config(lr=10.0, weight_decay=1.0, epochs=5, batch_size=8)
    r, events = run(cfg)
    assert r.status == "diverged", (r.status, r.message)
    assert "loss became nan" in r.message and "lower the learning rate" in r.message
    assert events[-1]["kind"] == "status" and events[-1]["status"] == "diverged"
    assert r.epochs_done == len([e for e in events if e["kind"] == "epoch"]) < 5


def test_linear_probe_leaves_backbone_unchanged(tmp_path):
    src = zoo.build_model("small_cnn", num_classes=4, seed=5)
    mweights.save_checkpoint(src, tmp_path / "src.pt", {"model": "small_cnn", "num_classes": 4})
    cfg = tiny_config(transfer="linear_probe", transfer_from=str(tmp_path / "src.pt"), lr=0.1)
    r, _ = run(cfg)
    assert r.status == "done", r.message
    before, after = src.state_dict(), r.model.state_dict()
    head = zoo.classifier_path(r.model)
    for k, v in before.items():
        if k.startswith(head + "."):
            assert not torch.equal(v, after[k]), k  # the head learned
        else:
            assert torch.equal(v, after[k]), k  # weights and BN statistics untouched
    assert r.info["trainable_params"] == sum(p.numel() for p in r.model.fc.parameters())


def test_finetune_lower_lr_groups(tmp_path):
    src = zoo.build_model("small_cnn", num_classes=7)
    mweights.save_checkpoint(src, tmp_path / "src.pt", {"model": "small_cnn", "num_classes": 7})
    cfg = tiny_config(transfer="finetune_lower_lr", transfer_from=str(tmp_path / "src.pt"), backbone_lr_mult=0.1,
                      lr=0.05, no_bias_decay=True)
    r, _ = run(cfg)
    assert r.status == "done", r.message
    lrs = {g["name"]: g["lr"] for g in r.info["param_groups"]}
    assert lrs == pytest.approx({"head/decay": 0.05, "head/no_decay": 0.05, "backbone/decay": 0.005,
                                 "backbone/no_decay": 0.005})


def test_distillation_from_a_teacher_checkpoint(tmp_path):
    teacher = zoo.build_model("small_cnn", num_classes=4, seed=3)
    mweights.save_checkpoint(teacher, tmp_path / "t.pt", {"model": "small_cnn", "num_classes": 4})
    r, _ = run(tiny_config(model="lenet5", distill_teacher=str(tmp_path / "t.pt"), distill_T=3.0))
    assert r.status == "done", r.message
    assert r.info["teacher"]["model"] == "small_cnn"
    wrong = zoo.build_model("small_cnn", num_classes=9)
    mweights.save_checkpoint(wrong, tmp_path / "w.pt", {"model": "small_cnn", "num_classes": 9})
    r, _ = run(tiny_config(distill_teacher=str(tmp_path / "w.pt")))
    assert r.status == "failed" and "teacher with 4 classes" in r.message


def test_checkpoint_mismatch_gives_a_clear_message(tmp_path):
    mweights.save_checkpoint(zoo.build_model("small_cnn", num_classes=4), tmp_path / "a.pt", {"model": "small_cnn"})
    with pytest.raises(ValueError, match="does not fit this model"):
        mweights.load_trained(tmp_path / "a.pt", model="se_resnet_small", num_classes=4)
    with pytest.raises(ValueError, match="wrong shape"):
        mweights.load_trained(tmp_path / "a.pt", num_classes=10)
    r, _ = run(tiny_config(model="se_resnet_small", transfer="finetune", transfer_from=str(tmp_path / "a.pt")))
    assert r.status == "failed" and "small_cnn" in r.message


def test_cancel_stops_after_the_current_step():
    cfg = tiny_config(epochs=20, batch_size=16)
    r = engine.Run(cfg, data=(tiny_data(64), tiny_data(32, seed=1)))
    r.subscribe(lambda e: r.cancel() if e["kind"] == "epoch" else None)
    r.start()
    assert r.wait(60) == "cancelled"
    assert r.epochs_done == 1 and "1 completed epoch" in r.message


def test_cancel_while_the_data_and_model_are_prepared_ends_the_run_there():
    # a cancel pressed during setup (a large data set being generated) takes effect at the next stage, not after
    # the whole setup and the first training step
    from vizcore.train import run_setup

    asked: list[int] = []
    calls = {"n": 0}

    def stopped() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2  # cancelled while the data were made: the check after them stops the setup

    with pytest.raises(run_setup.SetupStopped):
        run_setup.setup_state(tiny_config(), (tiny_data(64), tiny_data(32, seed=1)), [], None, {}, stopped=stopped)
    assert calls["n"] == 2
    # through a run: cancelled the moment it starts running, it ends in words, with no epoch and no checkpoint
    r = engine.Run(tiny_config(epochs=3), data=(tiny_data(64), tiny_data(32, seed=1)))
    r.subscribe(lambda e: (asked.append(1), r.cancel()) if e.get("status") == "running" else None)
    r.start()
    assert r.wait(60) == "cancelled" and asked == [1]
    assert r.message.startswith("cancelled while preparing the data and the model") and r.epochs_done == 0


# ---------------------------------------------------------------------------------------- budgets


@pytest.mark.slow
def test_preflight_budgets_and_messages():
    with pytest.raises(ValueError, match="memory within the budget of 1 MB"):
        preflight(tiny_config(memory_budget_mb=1))
    with pytest.raises(ValueError, match="fp16 autocast with a GradScaler needs a CUDA GPU"):
        preflight(tiny_config(precision="fp16"))
    with pytest.raises(ValueError, match="image size alexnet can take"):
        preflight(tiny_config(model="alexnet", image_size=16))
    with pytest.raises(ValueError, match="time budget"):
        preflight(tiny_config(train_size=50_000, epochs=100, time_budget_s=60, memory_budget_mb=100_000))
    notes = preflight(tiny_config(zero_gamma=True, precision="bf16")).notes
    assert any("no residual blocks" in n for n in notes) and any("bf16" in n for n in notes)


def test_memory_estimate_grows_with_batch_and_image():
    small = memory.estimate_memory_detail(tiny_config(batch_size=32))
    assert memory.estimate_memory_detail(tiny_config(batch_size=64)).activation_bytes == 2 * small.activation_bytes
    assert memory.estimate_memory_detail(tiny_config(image_size=64)).activation_bytes == pytest.approx(
        4 * small.activation_bytes, rel=0.02)
    n_params = sum(p.numel() for p in zoo.build_model("small_cnn", num_classes=10).parameters())
    assert small.params == n_params


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_run():
    r, _ = run(tiny_config(device="cuda", precision="fp16"))
    assert r.status == "done", r.message


def test_every_config_field_has_a_one_line_comment():
    docs = train_config.field_docs()
    assert set(docs) == {f.name for f in dataclasses.fields(train_config.TrainConfig)}
    assert all(len(d) > 5 for d in docs.values())


@pytest.mark.parametrize("model,dataset", [("small_cnn", "digits"), ("lenet5", "shapes")])
def test_runs_on_the_embedded_data_sets_across_channels(model, dataset):
    cfg = tiny_config(model=model, dataset=dataset, train_size=96, val_size=48, batch_size=32)
    r = engine.Run(cfg)
    assert r.run_sync() == "done", r.message
    assert r.info["num_classes"] == 10 and len(r.history) == 1
    assert train_data.load_data(cfg)[0] is train_data.load_data(cfg)[0]  # the second request is served from memory


class _Recorder(loop.Callback):
    """Counts what the loop tells callbacks, and changes the run through the state (halves the LR once)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.steps = 0
        self.epoch_events: list[dict] = []
        self.end_status: str | None = None

    def on_setup(self, state: loop.TrainState) -> None:
        self.calls.append("setup")
        assert state.step == 0 and state.x_train.dtype == torch.uint8

    def on_step_end(self, state: loop.TrainState, loss: torch.Tensor) -> None:
        self.steps += 1
        assert state.step == self.steps and loss.ndim == 0

    def on_epoch_end(self, state: loop.TrainState, event: dict) -> None:
        self.epoch_events.append(event)
        for g in state.optimizer.param_groups:  # a callback may steer the run without editing the loop
            g["lr"] = 0.0

    def on_end(self, state: loop.TrainState | None, status: str) -> None:
        self.end_status = status


def test_callbacks_see_setup_every_step_every_epoch_and_the_end() -> None:
    rec = _Recorder()
    cfg = tiny_config(epochs=2, schedule="constant")  # 64 images at batch 32: 2 steps per epoch
    run = engine.Run(cfg, data=(tiny_data(64), tiny_data(32, seed=1)), callbacks=[rec])
    assert run.run_sync() == "done"
    assert rec.calls == ["setup"] and rec.steps == 4 and rec.end_status == "done"
    assert [e["epoch"] for e in rec.epoch_events] == [1, 2]
    steps = [s["lr"] for s in (run.last_step,)]
    assert steps == [0.0]  # the LR the callback set after epoch 1 is what epoch 2's steps used


def test_callback_end_is_called_when_setup_fails() -> None:
    rec = _Recorder()
    cfg = tiny_config(transfer="finetune", transfer_from="/no/such/checkpoint.pt")  # refused while setting up
    run = engine.Run(cfg, data=(tiny_data(64), tiny_data(32, seed=1)), callbacks=[rec])
    assert run.run_sync() == "failed" and "expected a checkpoint file" in run.message
    assert rec.calls == [] and rec.end_status == "failed"


def test_epoch_checkpoints_keep_the_last_k_and_load(tmp_path) -> None:
    keep = loop.EpochCheckpoints(tmp_path / "epochs", keep_last=2)
    run = engine.Run(tiny_config(epochs=3), data=(tiny_data(64), tiny_data(32, seed=1)), callbacks=[keep])
    assert run.run_sync() == "done"
    files = sorted(p.name for p in (tmp_path / "epochs").glob("*.pt"))
    assert files == ["epoch_002.pt", "epoch_003.pt"]
    last = mweights.load_trained(tmp_path / "epochs" / "epoch_003.pt")
    for (k, a), b in zip(run.model.state_dict().items(), last.state_dict().values()):
        assert torch.equal(a, b), k  # the last epoch file holds the final weights
    with pytest.raises(ValueError, match="keep_last between 1 and 200"):
        loop.EpochCheckpoints(tmp_path, keep_last=0)
