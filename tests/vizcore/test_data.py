"""vizcore.data: synthetic shapes, data set loading from torchvision's on-disk formats, photos, image decoding."""
from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vizcore.data import imageset as data
from vizcore.data.datasets import DATASETS, decode_image, load_dataset
from vizcore.data.images import sample_photos
from vizcore.data.imageset import ImageSet
from vizcore.data.shapes import SHAPE_CLASSES, TEXTURES, TYPICAL_TEXTURE, make_shapes
from vizcore.models.preprocess import to_model_input


@pytest.fixture(scope="module")
def shapes() -> ImageSet:
    return make_shapes(300, 32, seed=11)


# ------------------------------------------------------------------------------------------- shapes


def test_shapes_deterministic_and_seed_dependent() -> None:
    a = make_shapes(70, 32, seed=3)
    b = make_shapes(70, 32, seed=3)
    c = make_shapes(70, 32, seed=4)
    assert a.images.numpy().tobytes() == b.images.numpy().tobytes()
    assert torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_layout(size: int) -> None:
    ds = make_shapes(23, size, seed=1)
    assert ds.images.shape == (23, 3, size, size) and ds.images.dtype == torch.uint8
    assert ds.masks.shape == (23, size, size) and ds.masks.dtype == torch.bool
    assert ds.labels.dtype == torch.int64 and ds.classes == SHAPE_CLASSES and len(SHAPE_CLASSES) >= 10
    assert ds.texture_labels is None and ds.name == "shapes"


def test_shapes_class_balance() -> None:
    ds = make_shapes(103, 32, seed=2)
    counts = torch.bincount(ds.labels, minlength=len(SHAPE_CLASSES))
    assert int(counts.sum()) == 103 and int(counts.max() - counts.min()) <= 1


def _background(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median colour of the image border outside the mask: the background colour, robust to clutter."""
    border = np.zeros_like(mask)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    return np.median(img[border & ~mask].astype(np.float64), axis=0)


def test_masks_cover_the_object_and_not_the_background(shapes: ImageSet) -> None:
    from scipy import ndimage

    blunt = {SHAPE_CLASSES.index(c) for c in ("circle", "ring", "ellipse", "square", "cross")}
    for img_t, mask_t, label in zip(shapes.images, shapes.masks, shapes.labels.tolist()):
        img, mask = img_t.permute(1, 2, 0).numpy(), mask_t.numpy()
        bg = _background(img, mask)
        dist = np.abs(img.astype(np.float64) - bg).max(axis=-1)  # L-inf colour distance to the background
        # Fill colours differ from the background by >= 25% of the range per channel; at coverage > 0.5 a mask
        # pixel keeps at least half of that. Background grain is +-3%.
        assert dist[mask].min() >= 25
        assert (dist[~mask] <= 12).mean() > 0.6  # outside: mostly background (clutter covers the rest)
        assert ndimage.label(mask, np.ones((3, 3)))[1] == 1  # one object in one piece (tips touch diagonally)
        # Clutter keeps >= 2 pixels away from the object: pixels 2 pixels from the mask are plain background
        # (all of them around blunt shapes; sharp tips thinner than a pixel leave a faint anti-aliased trace).
        ring = ndimage.distance_transform_edt(~mask) == 2.0
        assert (dist[ring] <= 12).all() if label in blunt else (dist[ring] <= 12).mean() > 0.8
        assert 0.03 < mask.mean() < 0.45


def test_cue_conflict_labels_differ_and_textures_are_the_other_classes() -> None:
    ds = make_shapes(400, 32, seed=5, cue_conflict=True)
    assert ds.name == "shapes_cue_conflict" and ds.texture_labels is not None
    assert bool((ds.texture_labels != ds.labels).all())
    counts = torch.bincount(ds.texture_labels, minlength=10)
    assert int(counts.min()) > 15  # every class's texture appears


def _stripe_energy(ds: ImageSet, select: torch.Tensor) -> tuple[float, float]:
    """Mean |d/dy| and |d/dx| of the grey image inside the masks of the selected images."""
    x = ds.images[select].float().mean(1)
    m = ds.masks[select]
    inner = m[:, 1:, 1:] & m[:, :-1, 1:] & m[:, 1:, :-1]
    dy = (x[:, 1:, 1:] - x[:, :-1, 1:]).abs()[inner].mean()
    dx = (x[:, 1:, 1:] - x[:, 1:, :-1]).abs()[inner].mean()
    return float(dy), float(dx)


@pytest.mark.slow
def test_fill_texture_says_the_texture_class() -> None:
    # Horizontal stripes vary along y only, vertical stripes along x only: an independent reading of the fill.
    h_cls, v_cls = TYPICAL_TEXTURE.index(TEXTURES.index("h_stripes")), TYPICAL_TEXTURE.index(TEXTURES.index("v_stripes"))
    cc = make_shapes(300, 32, seed=9, cue_conflict=True)
    dy, dx = _stripe_energy(cc, cc.texture_labels == h_cls)
    assert dy > 3 * dx
    dy, dx = _stripe_energy(cc, cc.texture_labels == v_cls)
    assert dx > 3 * dy
    # In the normal set with texture_prob=1 each class wears its typical texture.
    normal = make_shapes(200, 32, seed=9, texture_prob=1.0)
    dy, dx = _stripe_energy(normal, normal.labels == h_cls)
    assert dy > 3 * dx


@pytest.mark.slow
def test_shapes_splits_are_disjoint_and_repeatable() -> None:
    tr = load_dataset("shapes", "train", n=40, seed=0)
    va = load_dataset("shapes", "val", n=40, seed=0)
    te = load_dataset("shapes", "test", n=40, seed=0)
    assert torch.equal(tr.images, load_dataset("shapes", "train", n=40, seed=0).images)
    rows = {bytes(x.numpy().tobytes()) for x in tr.images}
    assert not rows & {bytes(x.numpy().tobytes()) for x in va.images}
    assert not rows & {bytes(x.numpy().tobytes()) for x in te.images}
    cc = load_dataset("shapes_cue_conflict", "test", n=20, size=64)
    assert cc.texture_labels is not None and cc.images.shape == (20, 3, 64, 64)


def test_a_shapes_set_is_drawn_once_per_process_and_each_caller_gets_its_own_tensors(monkeypatch) -> None:
    from vizcore.data import datasets

    drawn = []
    real = datasets.make_shapes
    monkeypatch.setattr(datasets, "make_shapes", lambda *a, **k: drawn.append(a) or real(*a, **k))
    monkeypatch.setattr(datasets, "_shapes_kept", type(datasets._shapes_kept)())
    a = load_dataset("shapes", "train", n=30, seed=7)
    b = load_dataset("shapes", "train", n=30, seed=7)
    assert len(drawn) == 1 and torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert torch.equal(a.images, make_shapes(30, 32, datasets._split_seed(7, "train")).images)  # as drawn
    a.images.zero_()  # a caller's changes stay its own
    assert torch.equal(load_dataset("shapes", "train", n=30, seed=7).images, b.images) and len(drawn) == 1
    load_dataset("shapes", "val", n=30, seed=7)
    assert len(drawn) == 2  # another split, other images
    # bounded: with room for one 30-image set only the newest is kept; a set over the bound is never kept
    monkeypatch.setattr(datasets, "SHAPES_KEPT_BYTES", datasets._nbytes(b) + 1)
    load_dataset("shapes", "test", n=30, seed=7)
    assert list(datasets._shapes_kept) == [(30, 32, datasets._split_seed(7, "test"), False)]
    load_dataset("shapes", "test", n=31, seed=7)
    assert len(datasets._shapes_kept) == 1 and len(drawn) == 4


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "number of images between 1 and"),
    (dict(n=data.MAX_N + 1), "number of images between 1 and"),
    (dict(n=10, size=4), "image size between"),
    (dict(n=10, size=data.MAX_SHAPES_SIZE + 1), "image size between"),
    (dict(n=10, texture_prob=1.5), "texture_prob in"),
    (dict(n=True), "number of images"),
    (dict(n=5, seed=-1), "non-negative integer seed"),
    (dict(n=5, seed=1.5), "non-negative integer seed"),
])
def test_shapes_bounds(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)


def test_byte_budget_bound() -> None:
    with pytest.raises(ValueError, match="MiB of pixels"):
        load_dataset("shapes", n=data.MAX_N, size=128)


@pytest.mark.parametrize("args, match", [
    (("imagenet",), "expected a data set name in"),
    (("shapes", "training"), "expected split 'train', 'val' or 'test'"),
])
def test_load_dataset_bad_names(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_dataset(*args)


def test_imageset_validates() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.int64), ("a",), "x")
    with pytest.raises(ValueError, match="labels in"):
        ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 3]), ("a", "b"), "x")


def test_registry_lists_every_data_set() -> None:
    assert {"shapes", "shapes_cue_conflict", "digits", "cifar10", "mnist", "fashion_mnist", "folder"} <= set(DATASETS)
    assert DATASETS["shapes"].offline and not DATASETS["cifar10"].offline


# ------------------------------------------------------------------------------------------- digits


def test_digits_splits_partition_sklearn_digits() -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    flat = np.round(d.images * (255.0 / 16.0)).astype(np.uint8).reshape(len(d.images), -1)
    expected = sorted(row.tobytes() for row in flat)
    parts = [load_dataset("digits", s, size=8, seed=1) for s in ("train", "val", "test")]
    got = sorted(b for p in parts for b in (x.numpy().tobytes() for x in p.images))
    assert sum(len(p) for p in parts) == 1797 and got == expected
    up = load_dataset("digits", "val", n=10, size=32)
    assert up.images.shape == (10, 1, 32, 32) and up.classes == tuple("0123456789")


# ------------------------------------------------------------------------------------------- torchvision formats


def _write_idx(path: Path, arr: np.ndarray) -> None:
    # MNIST idx format: magic (0, 0, type 0x08 = ubyte, ndim), big-endian int32 dims, then the bytes.
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "i" * arr.ndim, *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_format_files(tmp_path: Path, name: str, folder: str) -> None:
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    arrays = {}
    for prefix, n in (("train", 30), ("t10k", 12)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", imgs)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (imgs, labels)
    te = load_dataset(name, "test", root=tmp_path, download=False)
    assert te.images.shape == (12, 1, 28, 28)
    assert np.array_equal(te.images[:, 0].numpy(), arrays["t10k"][0])
    assert np.array_equal(te.labels.numpy(), arrays["t10k"][1])
    tr = load_dataset(name, "train", root=tmp_path, download=False, seed=2)
    va = load_dataset(name, "val", root=tmp_path, download=False, seed=2)
    assert len(tr) + len(va) == 30 and len(va) == 3
    seen = sorted(x.numpy().tobytes() for x in torch.cat([tr.images, va.images])[:, 0])
    assert seen == sorted(x.tobytes() for x in arrays["train"][0])
    small = load_dataset(name, "test", n=5, size=32, root=tmp_path, download=False)
    assert small.images.shape == (5, 1, 32, 32)


def test_cifar10_format_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as tv_cifar

    # The tiny files cannot match CIFAR-10's published md5 sums: check existence instead.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(1)
    rows = {}
    for fname in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = rng.integers(0, 256, (4, 3072), dtype=np.uint8)  # row: 1024 red, 1024 green, 1024 blue, row-major
        lab = rng.integers(0, 10, 4).tolist()
        (base / fname).write_bytes(pickle.dumps({"data": d, "labels": lab}))
        rows[fname] = (d, lab)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    te = load_dataset("cifar10", "test", root=tmp_path, download=False)
    d, lab = rows["test_batch"]
    assert te.images.shape == (4, 3, 32, 32) and te.classes == tuple(names)
    assert te.labels.tolist() == lab
    for i, (c, y, x) in enumerate([(0, 0, 0), (1, 5, 7), (2, 31, 30), (0, 12, 3)]):
        assert int(te.images[i, c, y, x]) == int(d[i, c * 1024 + y * 32 + x])
    assert len(load_dataset("cifar10", "train", root=tmp_path, download=False)) == 18


def test_torchvision_offline_message_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"put cifar-10-batches-py/ .* in that folder") as exc:
        load_dataset("cifar10", root=tmp_path / "nowhere", download=False)
    assert str(tmp_path / "nowhere") in str(exc.value)
    with pytest.raises(ValueError, match="MNIST/raw/"):
        load_dataset("mnist", root=tmp_path, download=False)


# ------------------------------------------------------------------------------------------- image folder


def _png(color: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", size, color).save(b, "PNG")
    return b.getvalue()


def test_image_folder(tmp_path: Path) -> None:
    colors = {"blue": (0, 0, 255), "red": (255, 0, 0)}
    for cls, col in colors.items():
        (tmp_path / cls).mkdir()
        for i in range(10):
            (tmp_path / cls / f"{i}.png").write_bytes(_png(col, (20 + i, 30)))
    (tmp_path / "red" / "notes.txt").write_text("not an image")
    parts = [load_dataset("folder", s, size=16, root=tmp_path) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [16, 2, 2]
    for p in parts:
        assert p.classes == ("blue", "red") and p.images.shape[1:] == (3, 16, 16)
        for img, lab in zip(p.images, p.labels):
            assert tuple(img[:, 8, 8].tolist()) == colors[p.classes[lab]]
    # Pre-split layout: root/train/<class>, root/val/<class>
    for split in ("train", "val"):
        for cls, col in colors.items():
            (tmp_path / "pre" / split / cls).mkdir(parents=True)
            (tmp_path / "pre" / split / cls / "a.png").write_bytes(_png(col, (8, 8)))
    assert len(load_dataset("folder", "val", size=8, root=tmp_path / "pre")) == 2


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected root="):
        load_dataset("folder")
    with pytest.raises(ValueError, match="existing image folder"):
        load_dataset("folder", root=tmp_path / "missing")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.png").write_bytes(_png((1, 2, 3), (8, 8)))
    with pytest.raises(ValueError, match="at least 2 class folders"):
        load_dataset("folder", root=tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="readable image at"):
        load_dataset("folder", "train", root=tmp_path)


# ------------------------------------------------------------------------------------------- decoding


def _png_bytes(im: Image.Image, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, "PNG", **kw)
    return b.getvalue()


def _with_ihdr_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims another size (a decompression bomb's header), CRC fixed."""
    assert png[12:16] == b"IHDR"
    body = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + struct.pack(">I", 13) + body + struct.pack(">I", zlib.crc32(body)) + png[33:]


def test_decode_roundtrip_and_modes() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(_png_bytes(Image.fromarray(rgb))), rgb)
    grey = decode_image(_png_bytes(Image.new("L", (5, 4), 77)))
    assert grey.shape == (4, 5, 3) and (grey == 77).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red; the rest fully transparent -> white
    out = decode_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[1, 1]) == (255, 255, 255)
    pal = Image.new("P", (3, 3), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert tuple(decode_image(_png_bytes(pal))[1, 1]) == (10, 200, 30)
    deep = Image.fromarray(np.array([[65535, 256 * 100]], dtype=np.uint16))  # 16-bit grey
    d = decode_image(_png_bytes(deep))
    assert d.dtype == np.uint8 and d[0, 0, 0] == 255 and d[0, 1, 0] == 100


def test_decode_animated_gif_takes_first_frame() -> None:
    frames = [Image.new("RGB", (6, 6), c) for c in ((255, 0, 0), (0, 0, 255))]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = decode_image(b.getvalue())
    assert out.shape == (6, 6, 3) and out[..., 0].min() > 200 and out[..., 2].max() < 50


@pytest.mark.parametrize("make, match", [
    (lambda: b"", "empty file"),
    (lambda: b"this is not an image at all", "bytes that are not an image"),
    (lambda: _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)))[:900],
     "truncated or corrupt"),
    (lambda: _with_ihdr_size(_png_bytes(Image.new("L", (8, 8))), 8000, 8000), "at most 40,000,000 pixels"),
    (lambda: _with_ihdr_size(_png_bytes(Image.new("L", (8, 8))), 30000, 30000), "decompression bomb"),
])
def test_decode_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_image(make())


def test_decode_size_limit_and_type() -> None:
    with pytest.raises(ValueError, match="at most 0 MB"):
        decode_image(_png_bytes(Image.new("L", (8, 8))), max_bytes=10)
    with pytest.raises(TypeError, match="image file bytes"):
        decode_image("a path")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- photos & model input


def test_sample_photos() -> None:
    import skimage.data

    photos = sample_photos()
    assert {"chelsea", "astronaut", "coffee", "rocket"} <= set(photos)
    for img in photos.values():
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and not img.flags.writeable
    assert np.array_equal(photos["chelsea"], skimage.data.chelsea())
    assert np.array_equal(photos["camera"][..., 1], skimage.data.camera())


def test_to_model_input_normalises_like_the_formula() -> None:
    img = np.full((40, 60, 3), (200, 100, 50), np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x = to_model_input(img, 24, mean, std)
    assert x.shape == (1, 3, 24, 24) and x.dtype == torch.float32
    want = (torch.tensor([200, 100, 50]) / 255.0 - torch.tensor(mean)) / torch.tensor(std)
    assert torch.allclose(x[0, :, 5, 5], want, atol=1e-5)
    g = to_model_input(img, (16, 20), (0.5,), (0.25,), channels=1)
    luma = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255.0
    assert g.shape == (1, 1, 16, 20)
    assert torch.allclose(g[0, 0, 3, 3], torch.tensor((luma - 0.5) / 0.25), atol=2e-2)


def test_to_model_input_crops_the_centre() -> None:
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, 20:40] = 255  # the centre square is white, the sides black
    x = to_model_input(img, 10, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert x.shape == (1, 3, 10, 10)
    assert float(x[..., 1:-1].min()) > 0.99  # only the outermost columns feel the antialiasing filter


@pytest.mark.parametrize("kwargs, match", [
    (dict(channels=2), "channels 1 or 3"),
    (dict(mean=(0.5, 0.5)), "mean and std of length 3"),
    (dict(std=(0.0, 1.0, 1.0)), "positive std"),
    (dict(size=4), "input size between"),
])
def test_to_model_input_errors(kwargs: dict, match: str) -> None:
    args = dict(image=np.zeros((10, 10, 3), np.uint8), size=16, mean=(0.5,) * 3, std=(0.5,) * 3) | kwargs
    with pytest.raises(ValueError, match=match):
        to_model_input(**args)
    with pytest.raises(ValueError, match="uint8 image"):
        to_model_input(np.zeros((10, 10, 3), np.float32), 16, (0.5,) * 3, (0.5,) * 3)


# ------------------------------------------------------------------------------------------- CLI


def test_cli(capsys: pytest.CaptureFixture) -> None:
    from vizcore.cli.main import main

    assert main(["data", "--dataset", "shapes", "--n", "30", "--size", "32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 30 and sum(out["counts"].values()) == 30 and out["images_shape"] == [30, 3, 32, 32]
    assert len(out["mean"]) == 3 and all(0 < m < 1 for m in out["mean"])
    assert main(["datasets", "--json"]) == 0
    assert {d["name"] for d in json.loads(capsys.readouterr().out)} == set(DATASETS)
    assert main(["photos", "--json"]) == 0
    assert "chelsea" in {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert main(["data", "--dataset", "shapes", "--n", "0"]) == 2
    assert "number of images" in capsys.readouterr().err


def test_channel_stats_match_torch() -> None:
    ds = make_shapes(50, 32, seed=4)
    mean, std = ds.channel_stats()
    x = ds.images.double() / 255.0
    assert mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-12)
    assert std == pytest.approx(x.std(dim=(0, 2, 3)).tolist(), abs=1e-12)
    counts = ds.class_counts()
    assert sum(counts.values()) == 50 and list(counts) == list(SHAPE_CLASSES)
    sub = ds.subset(ds.labels == 0)
    assert len(sub) == counts[SHAPE_CLASSES[0]] and sub.masks.shape[0] == len(sub)


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (30, 10), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    b = io.BytesIO()
    im.save(b, "JPEG", exif=exif.tobytes())
    assert decode_image(b.getvalue()).shape == (30, 10, 3)
