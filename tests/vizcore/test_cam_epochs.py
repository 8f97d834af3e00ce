"""CAM over training: a run with keep_epochs keeps exactly its last E epochs (loadable like final checkpoints,
listed in its record, deleted with it, within a disk budget), and the localisation per epoch equals the one
computed directly from each epoch's checkpoint."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.helpers import tiny_config, tiny_data
from vizcore.figures.attribution import cam_epochs_figure
from vizcore.inspect import cam_epochs
from vizcore.inspect import cam_metrics as metrics
from vizcore.inspect.attribution import prepare
from vizcore.lab.queue import check_before_create
from vizcore.lab.store import RunStore
from vizcore.models import weights as mweights
from vizcore.train import config as train_config
from vizcore.train import disk, engine
from vizcore.train.preflight import preflight

pytestmark = pytest.mark.usefixtures("one_thread")


def shapes_config(**kw) -> train_config.TrainConfig:
    """Three epochs of 64 embedded shapes at 32 pixels: a second or two on a CPU."""
    base = dict(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=3, batch_size=32, lr=0.05,
                device="cpu", log_every=2, keep_epochs=2)
    base.update(kw)
    return train_config.TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[RunStore, str]:
    store = RunStore(tmp_path_factory.mktemp("store") / "runs.sqlite")
    rid = store.create(shapes_config())
    assert store.make_run(rid).run_sync() == "done"
    return store, rid


@pytest.mark.slow
def test_keep_epochs_keeps_exactly_the_last_two_in_the_final_checkpoint_format(trained) -> None:
    store, rid = trained
    rec = store.get(rid)
    assert rec.kept_epochs == [2, 3] and rec.info["keep_epochs"] == 2
    files = store.epoch_checkpoints(rid)
    assert list(files) == [2, 3]
    folder = store.checkpoint_path(rid).with_name(f"{rid}_epochs")
    assert rec.info["epochs_dir"] == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_002.pt", "epoch_002.pt.json", "epoch_003.pt",
                                                        "epoch_003.pt.json"]
    assert cam_epochs.epoch_files(folder) == files
    final_meta = mweights.checkpoint_meta(rec.checkpoint)
    last_meta = mweights.checkpoint_meta(files[3])
    assert final_meta is not None and last_meta is not None
    assert set(last_meta) == set(final_meta) and last_meta["epoch"] == 3 and last_meta["run_id"] == rid
    assert mweights.checkpoint_meta(files[2])["epoch"] == 2
    final, last = mweights.load_trained(rec.checkpoint), mweights.load_trained(files[3])  # the loader of finals
    for (k, a), b in zip(final.state_dict().items(), last.state_dict().values()):
        assert torch.equal(a, b), k  # the last kept epoch is the final weights
    second = mweights.load_trained(files[2])
    assert not all(torch.equal(a, b) for a, b in zip(second.state_dict().values(), last.state_dict().values()))


def test_score_per_epoch_equals_the_score_from_that_checkpoint(trained) -> None:
    store, rid = trained
    files = store.epoch_checkpoints(rid)
    x, masks, ds = cam_epochs.scoring_images("small_cnn", 12, 32)
    assert cam_epochs.target_mode(files[3], ds.classes) == "true class"
    scores, targets = cam_epochs.epoch_scores(files, x, masks, ds.labels, model="small_cnn", layer="features")
    assert [s.epoch for s in scores] == [2, 3] and torch.equal(targets, ds.labels)
    for s in scores:
        model = prepare(mweights.load_trained(files[s.epoch]))
        direct = metrics.localisation_of(model, x, masks, ds.labels, ["gradcam"], "features")["gradcam"]
        assert s.localisation == direct
        with torch.no_grad():
            assert s.accuracy == pytest.approx(float((model(x).argmax(1) == ds.labels).double().mean()))
        assert s.val_acc == mweights.checkpoint_meta(files[s.epoch])["val_acc"]

    res = cam_epochs.cam_over_training(files, "small_cnn", 32, n=12, image_index=3)
    assert res.epochs == (2, 3) and res.layer == "features" and res.targets == "true class"
    assert [s.localisation for s in res.scores] == [s.localisation for s in scores]
    assert res.maps.shape == (2, 32, 32) and res.image.shape == (32, 32, 3) and res.mask.shape == (32, 32)
    assert res.image_class == int(ds.labels[3])
    one, prob = cam_epochs.epoch_map(files[2], x[3:4], res.image_class, model="small_cnn", layer="features")
    assert (one == res.maps[0]).all() and 0 < prob < 1

    fig = cam_epochs_figure(res.scores, "Grad-CAM", "features", 12, current=3)
    assert [t.name for t in fig.data][:2] == ["pointing game (% of images, peak inside the object)",
                                              "energy inside the object (% of map mass)"]
    assert list(fig.data[0].x) == [2, 3] and fig.layout.yaxis.title.text == "score (%)"
    chance = next(t for t in fig.data if t.name.startswith("chance"))
    assert list(chance.y) == [100 * res.scores[0].localisation.energy_chance] * 2


def test_store_delete_removes_the_kept_epochs(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.create(shapes_config(epochs=2))
    assert store.make_run(rid).run_sync() == "done"
    folder = store.checkpoint_path(rid).with_name(f"{rid}_epochs")
    assert len(list(folder.glob("epoch_*.pt"))) == 2
    store.delete(rid)
    assert not folder.exists() and not store.checkpoint_path(rid).exists()


def test_an_epochs_dir_shared_with_other_files_keeps_them_on_delete(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    shared = tmp_path / "mine"
    shared.mkdir()
    (shared / "notes.txt").write_text("keep me")
    rid = store.create(shapes_config(epochs=1, keep_epochs=1))
    assert store.make_run(rid, epochs_dir=shared).run_sync() == "done"
    assert store.get(rid).info["epochs_dir"] == str(shared) and list(store.epoch_checkpoints(rid)) == [1]
    store.delete(rid)
    assert sorted(p.name for p in shared.iterdir()) == ["notes.txt"]


def test_off_by_default_and_bounded() -> None:
    assert train_config.TrainConfig().keep_epochs == 0
    assert "CAM over training" in train_config.field_docs()["keep_epochs"]
    for bad in (-1, 201, 1.5):
        with pytest.raises(ValueError, match="keep_epochs"):
            tiny_config(keep_epochs=bad)
    r = engine.Run(tiny_config(), data=(tiny_data(64), tiny_data(32, seed=1)))
    assert r.epoch_keeper is None and r.kept_epochs == []
    with pytest.raises(ValueError, match="expected epochs_dir or checkpoint_path for keep_epochs=2"):
        engine.Run(tiny_config(keep_epochs=2), data=(tiny_data(64), tiny_data(32, seed=1)))


def test_disk_budget_refuses_too_many_kept_epochs(tmp_path, monkeypatch) -> None:
    cfg = shapes_config(epochs=3, keep_epochs=200)
    one = disk.checkpoint_bytes(cfg)
    assert disk.kept_epochs_bytes(cfg) == 3 * one  # never more files than epochs
    assert disk.kept_epochs_bytes(dataclasses.replace(cfg, keep_epochs=0)) == 0
    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.create(shapes_config(epochs=1, keep_epochs=1))
    store.make_run(rid).run_sync()
    size = sum(p.stat().st_size for p in store.epoch_checkpoints(rid)[1].parent.iterdir())
    assert 0.9 * size < one < 1.1 * size + 16_384  # the estimate is the file (and sidecar) it writes

    big = train_config.TrainConfig(model="resnet18", epochs=50, keep_epochs=50, image_size=32, device="cpu",
                                   time_budget_s=24 * 3600)
    with pytest.raises(ValueError, match=r"kept epoch weights within the disk budget of 1024 MB, got 50 epochs × "
                                         r"[\d.]+ MB = \d+ MB for resnet18; keep at most \d+ epochs"):
        preflight(big)
    monkeypatch.setenv(disk.KEPT_EPOCHS_ENV_VAR, "1")
    with pytest.raises(ValueError, match="disk budget of 1 MB"):
        check_before_create(store, shapes_config(keep_epochs=3, epochs=3), 10, with_data=False)
    monkeypatch.setenv(disk.KEPT_EPOCHS_ENV_VAR, "lots")
    with pytest.raises(ValueError, match="whole number of megabytes"):
        preflight(shapes_config())


def test_checkpoint_list_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="train with keep_epochs > 0"):
        cam_epochs.check_checkpoints({})
    with pytest.raises(ValueError, match="weights of epoch 2"):
        cam_epochs.check_checkpoints({2: tmp_path / "gone.pt"})
    with pytest.raises(ValueError, match="between 1 and 1000 scoring images"):
        cam_epochs.scoring_images("small_cnn", 0, 32)
    assert cam_epochs.epoch_files(tmp_path / "nothing") == {}
