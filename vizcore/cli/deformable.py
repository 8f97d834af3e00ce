"""`deformable`: train the offset field of a deformable 3×3 convolution (Dai et al., 2017) on a picture and report
where the kernel samples, against the regular grid and the dilated grid it imitates."""
from __future__ import annotations

import argparse

from vizcore.cli.registry import CLIError, command


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--photo", default="chelsea", help="a scikit-image sample photo (chelsea, camera, coins, ...)")
    p.add_argument("--size", type=int, default=48, help="side of the grey picture, pixels (16..128)")
    p.add_argument("--dilation", type=int, default=2, help="dilation of the target kernel the offsets imitate (1..4)")
    p.add_argument("--steps", type=int, default=200, help="Adam steps on the offset predictor (10..1000)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0, help="draws the fixed 3×3 kernel")
    p.add_argument("--unit", default=None, help="i,j: add that output unit's nine sampling points (row, col)")


@command("deformable", "Train a deformable 3×3 convolution's offsets to imitate a dilated kernel on a picture: "
         "errors, mean learned offset per kernel point against the ideal, a unit's sampling points.", _add)
def run(args: argparse.Namespace) -> dict:
    from vizcore.data.images import sample_photos
    from vizcore.inspect import deformable as dfm

    photos = sample_photos()
    if args.photo not in photos:
        raise CLIError(f"expected --photo from {', '.join(photos)}, got {args.photo!r}")
    try:
        cfg = dfm.DeformConfig(args.size, args.dilation, args.steps, args.lr, args.seed)
    except ValueError as e:
        raise CLIError(str(e)) from e
    unit = None
    if args.unit:
        try:
            unit = tuple(int(v) for v in args.unit.split(","))
        except ValueError:
            raise CLIError(f"expected --unit as two integers i,j, got {args.unit!r}") from None
        if len(unit) != 2 or not all(0 <= v < cfg.size for v in unit):
            raise CLIError(f"expected --unit i,j with 0 <= i, j < {cfg.size}, got {args.unit!r}")
    r = dfm.train_offsets(photos[args.photo], cfg)
    out = {"config": cfg, "photo": args.photo, "loss_regular": r.loss_regular, "loss_ideal": r.loss_ideal,
           "loss_final": r.loss_curve[-1], "kernel_points": dfm.grid_offsets().tolist(),
           "mean_offset": r.mean_offset, "ideal_offset": r.ideal_offset}
    if unit is not None:
        out["unit"] = list(unit)
        out["sampling_points"] = r.points[unit[0], unit[1]]
    return out
