"""`datasets`, `data`, `photos`: list the data sets, summarise one, list the sample photos."""
from __future__ import annotations

import argparse
from typing import Any

from vizcore.cli.registry import command


def _add_datasets(p: argparse.ArgumentParser) -> None:
    pass


@command("datasets", "List the data sets: channels, default size, classes, whether they work offline.", _add_datasets)
def run_datasets(args: argparse.Namespace) -> list[Any]:
    from vizcore.data import datasets

    return [datasets.DATASETS[name] for name in datasets.list_datasets()]


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="shapes", help="data set name (see `datasets`)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--n", type=int, default=None, help="at most this many images (default: the data set's)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: the data set's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None, help="folder with the files (image folder: required)")
    p.add_argument("--no-download", action="store_true", help="never try to download torchvision data sets")


@command("data", "Load a data set and summarise it: counts per class, tensor shapes, channel mean/std.", _add_data)
def run_data(args: argparse.Namespace) -> dict:
    from vizcore.data import datasets, imageset

    ds = datasets.load_dataset(args.dataset, args.split, n=args.n, size=args.size, seed=args.seed, root=args.root,
                           download=not args.no_download)
    return imageset.summarize(ds)


def _add_photos(p: argparse.ArgumentParser) -> None:
    pass


@command("photos", "List the sample photos shipped with scikit-image (offline): name, height, width.", _add_photos)
def run_photos(args: argparse.Namespace) -> list[dict]:
    from vizcore.data import images as image_io

    return [{"name": k, "height": int(v.shape[0]), "width": int(v.shape[1]), "channels": int(v.shape[2])}
            for k, v in image_io.sample_photos().items()]


def _add_augment(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="shapes", help="data set name (see `datasets`)")
    p.add_argument("--n", type=int, default=4, help="images to augment (first n of the training split)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: the data set's)")
    p.add_argument("--preset", default="flip_crop", help="none, flip, flip_crop, randaugment, trivialaugment")
    p.add_argument("--ra-n", type=int, default=2, help="RandAugment operations per image")
    p.add_argument("--ra-m", type=int, default=9, help="RandAugment magnitude 0..30")
    p.add_argument("--mixup", type=float, default=0.0, help="MixUp alpha (0 = off)")
    p.add_argument("--cutmix", type=float, default=0.0, help="CutMix alpha (0 = off)")
    p.add_argument("--repeats", type=int, default=2, help="augmented copies per image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None, help="folder with the files (image folder: required)")
    p.add_argument("--export-pipeline", metavar="FILE", help="write the preset as a pipeline JSON file and stop")
    p.add_argument("--pipeline", metavar="FILE", help="a pipeline JSON file (or JSON text) instead of the preset")
    p.add_argument("--image", default=None, help="with --pipeline: a sample photo name (see `photos`) to augment "
                                                 "--n times, instead of data set images")
    p.add_argument("--effect", action="store_true", help="with --pipeline: accuracy / confidence of the default "
                                                         "model on augmented vs original validation images, per step")
    p.add_argument("--val-n", type=int, default=500, help="with --effect: validation images")


MAX_DRAWS = 64  # --n with --image: augmented copies of one photo


def _run_pipeline(args: argparse.Namespace) -> dict:
    import torch

    from vizcore.data import datasets
    from vizcore.data import images as image_io
    from vizcore.data.pipeline import load_pipeline

    pipe = load_pipeline(args.pipeline)
    if args.effect:
        from vizcore.inspect.augment_effect import effect_of_checkpoint
        from vizcore.lab.default_model import default_model

        rows = effect_of_checkpoint(default_model(), pipe, n=args.val_n, seed=args.seed)
        return {"pipeline": pipe.to_dict(), "model": "default (small_cnn on shapes)", "validation_images": args.val_n,
                "effects": [{**vars(r), "acc_change": r.acc_change,
                             "conf_change": r.conf_augmented - r.conf_original} for r in rows]}
    if args.image is not None:
        if not 1 <= args.n <= MAX_DRAWS:
            raise ValueError(f"expected --n between 1 and {MAX_DRAWS} draws of one image, got {args.n}")
        photos = image_io.sample_photos()
        if args.image not in photos:
            raise ValueError(f"expected --image from {', '.join(photos)}, got {args.image!r}")
        size = args.size or 128
        one = torch.from_numpy(image_io.fit_image(photos[args.image], size)).permute(2, 0, 1)
        batch = one[None].expand(args.n, -1, -1, -1).contiguous()
    else:
        ds = datasets.load_dataset(args.dataset, "train", n=args.n, size=args.size, seed=args.seed, root=args.root,
                                   download=False)
        batch = ds.images
    out, drawn = pipe.run(batch, torch.Generator().manual_seed(args.seed))
    changed = (out != batch).float().mean(dim=(1, 2, 3))
    return {"pipeline": pipe.to_dict(), "seed": args.seed, "image": args.image or args.dataset,
            "draws": [{"index": i, "drawn": [{"op": op, **d} for op, d in drawn.of_image(i)],
                       "caption": drawn.describe(i), "fraction_of_pixels_changed": float(changed[i])}
                      for i in range(len(batch))]}


@command("augment", "Preview an augmentation: what each augmented copy drew, and the mix of the batch.", _add_augment)
def run_augment(args: argparse.Namespace) -> dict:
    from vizcore.data import augment, datasets

    if args.export_pipeline:
        from pathlib import Path

        from vizcore.core import io as vio
        from vizcore.data.pipeline import preset_pipeline

        pipe = preset_pipeline(args.preset, args.ra_n, args.ra_m)
        vio.write_text(Path(args.export_pipeline), pipe.to_json() + "\n")
        return {"written": args.export_pipeline, "pipeline": pipe.to_dict()}
    if args.pipeline:
        return _run_pipeline(args)
    if args.image or args.effect:
        raise ValueError("expected --pipeline with --image or --effect, got neither")

    cfg = augment.AugmentConfig(preset=args.preset, randaugment_n=args.ra_n, randaugment_m=args.ra_m,
                                mixup_alpha=args.mixup, cutmix_alpha=args.cutmix)
    ds = datasets.load_dataset(args.dataset, "train", n=args.n, size=args.size, seed=args.seed, root=args.root,
                           download=False)
    pv = augment.preview(ds.images, cfg, seed=args.seed, repeats=args.repeats, labels=ds.labels,
                         num_classes=ds.num_classes)
    changed = (pv.augmented != pv.originals[:, None]).float().mean(dim=(2, 3, 4))
    return {
        "config": cfg,
        "images": [
            {"class": ds.classes[int(y)], "copies": [{"drawn": c, "fraction_of_pixels_changed": float(f)}
                                                     for c, f in zip(caps, ch)]}
            for y, caps, ch in zip(ds.labels, pv.captions, changed)
        ],
        "mix": pv.mix_caption or None,
        "mixed_label_sums": None if pv.mixed_labels is None else pv.mixed_labels.sum(1),
    }
