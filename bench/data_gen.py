"""Benchmark: generating the synthetic shapes data set vs torchvision's FakeData, both materialised to uint8.

    python bench/data_gen.py [--n 20000] [--size 32] [--threads 1] [--repeats 1]

Peer: ``torchvision.datasets.FakeData(n, (3, size, size))`` read item by item into one uint8 tensor (random
noise images; the cheapest "data set" torchvision offers). Both are timed in the same run; the best of
``--repeats`` is reported. Prints images/s of both and the speed ratio shapes / FakeData (> 1: shapes faster).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _fakedata(n: int, size: int) -> torch.Tensor:
    from torchvision.datasets import FakeData

    ds = FakeData(size=n, image_size=(3, size, size), num_classes=10, random_offset=0)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for i in range(n):
        img, _ = ds[i]  # a PIL image
        out[i] = torch.from_numpy(np.array(img)).permute(2, 0, 1)
    return out


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: 'on one core')")
    ap.add_argument("--repeats", type=int, default=1, help="best of this many runs of each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from vizcore.data.shapes import make_shapes

    make_shapes(64, args.size)  # warm-up
    t_shapes = _best(lambda: make_shapes(args.n, args.size, seed=0), args.repeats)
    t_fake = _best(lambda: _fakedata(args.n, args.size), args.repeats)
    result = {
        "n": args.n, "size": args.size, "threads": args.threads,
        "shapes_s": round(t_shapes, 3), "fakedata_s": round(t_fake, 3),
        "shapes_images_per_s": round(args.n / t_shapes), "fakedata_images_per_s": round(args.n / t_fake),
        "ratio_shapes_over_fakedata_speed": round(t_fake / t_shapes, 2),
    }
    print(f"make_shapes({args.n}, {args.size}): {t_shapes:.2f} s ({args.n / t_shapes:,.0f} images/s, masks included)")
    print(f"FakeData({args.n}, (3, {args.size}, {args.size})) -> uint8: {t_fake:.2f} s ({args.n / t_fake:,.0f} images/s)")
    print(f"ratio (shapes speed / FakeData speed): {t_fake / t_shapes:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
