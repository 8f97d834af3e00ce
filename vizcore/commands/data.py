"""`datasets`, `data`, `photos`: list the data sets, summarise one, list the sample photos."""
from __future__ import annotations

import argparse

from vizcore.cli import command


def _add_datasets(p: argparse.ArgumentParser) -> None:
    pass


@command("datasets", "List the data sets: channels, default size, classes, whether they work offline.", _add_datasets)
def run_datasets(args: argparse.Namespace) -> list[dict]:
    from vizcore import data

    return [data.DATASETS[name] for name in data.list_datasets()]


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
    from vizcore import data

    ds = data.load_dataset(args.dataset, args.split, n=args.n, size=args.size, seed=args.seed, root=args.root,
                           download=not args.no_download)
    return data.summarize(ds)


def _add_photos(p: argparse.ArgumentParser) -> None:
    pass


@command("photos", "List the sample photos shipped with scikit-image (offline): name, height, width.", _add_photos)
def run_photos(args: argparse.Namespace) -> list[dict]:
    from vizcore import data

    return [{"name": k, "height": int(v.shape[0]), "width": int(v.shape[1]), "channels": int(v.shape[2])}
            for k, v in data.sample_photos().items()]
