"""`cam`: attribution maps (Grad-CAM and relatives) of one image, their localisation on the embedded shapes, or
the cascading-randomisation sanity check (Adebayo et al., NeurIPS 2018). `cam-epochs`: CAM over training, the
localisation per kept epoch of a run trained with ``--keep-epochs``."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from vizcore.cli import weights_arg
from vizcore.cli.registry import CLIError, command

_MAP_SIDE = 16  # side of the downsampled map printed in JSON


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="small_cnn", help="zoo model name (default small_cnn), or spec:SPEC_FILE (a custom "
                                                        "stack; --weights gives its weights)")
    p.add_argument("--weights", default="trained", help=f"{weights_arg.HELP} (default trained)")
    p.add_argument("--classes", help="a text file of class names, one per line, for a weights file's outputs")
    p.add_argument("--image", help="sample photo name (e.g. chelsea), an image file, or shapes:INDEX")
    p.add_argument("--method", default="gradcam", help="one method for the map; see --methods for the choices")
    p.add_argument("--methods", help="comma list for --localisation/--sanity (default: gradcam,gradcam_pp,layercam,"
                                     "guided_gradcam,saliency)")
    p.add_argument("--layer", help="module path of the layer (default: the zoo entry's CAM layer)")
    p.add_argument("--target", help="class index to explain (default: the predicted class)")
    p.add_argument("--localisation", action="store_true", help="pointing game and energy in the mask on the shapes")
    p.add_argument("--n", type=int, default=200, help="shapes images for --localisation (default 200)")
    p.add_argument("--sanity", action="store_true", help="cascading randomisation: rank correlations per step")
    p.add_argument("--steps", type=int, default=8, help="layer groups for --sanity (default 8)")


def _image(spec: str | None, name: str):
    """(pixels (H, W, 3) uint8, its object mask or None) from a photo name, a file or shapes:INDEX."""
    import numpy as np

    from vizcore.data import images as image_io

    if spec is None:
        raise CLIError("expected --image (a sample photo name, a file or shapes:INDEX), got none")
    if spec.startswith("shapes:"):
        from vizcore.inspect.cam_metrics import shapes_for_model

        try:
            idx = int(spec.split(":", 1)[1])
        except ValueError:
            raise CLIError(f"expected shapes:INDEX with an integer index, got {spec!r}") from None
        if not 0 <= idx < 1000:
            raise CLIError(f"expected a shapes index in [0, 1000), got {idx}")
        _, masks, ds = shapes_for_model(name, idx + 1, seed=1)
        return ds.images[idx].permute(1, 2, 0).numpy(), masks[idx].numpy().astype(bool)
    photos = image_io.sample_photos()
    if spec in photos:
        return photos[spec], None
    path = Path(spec).expanduser()
    if not path.is_file():
        raise CLIError(f"expected a sample photo ({', '.join(sorted(photos))}) or an image file, got {spec!r}")
    from vizcore.core.io import read_capped
    from vizcore.data import datasets, images

    return np.asarray(datasets.decode_image(read_capped(path, images.MAX_FILE_BYTES, "image file"))), None


def _methods(text: str | None, default: tuple[str, ...]) -> list[Any]:  # Method names, checked below
    from vizcore.inspect.attribution import METHODS

    ms = [m.strip() for m in text.split(",") if m.strip()] if text else list(default)
    bad = [m for m in ms if m not in METHODS]
    if bad or not ms:
        raise CLIError(f"expected methods from {', '.join(METHODS)}, got {text!r}")
    return ms


@command("cam", "Attribution maps (Grad-CAM, Grad-CAM++, Layer-CAM, Guided Grad-CAM, IG, saliency, occlusion); "
                "--localisation on the shapes' masks; --sanity by cascading randomisation.", _add)
def run(args: argparse.Namespace) -> dict:
    import torch
    import torch.nn.functional as F

    from vizcore.inspect import attribution as attr
    from vizcore.inspect import cam_metrics as metrics
    from vizcore.models import preprocess
    from vizcore.models import registry as zoo

    entry = zoo.get_entry(args.model)
    raw_model, weights, _ = weights_arg.load(args.model, args.weights)
    model = attr.prepare(raw_model)
    layer = args.layer or entry.cam_layer
    names = attr.class_names(args.model, weights, attr.num_outputs(model) or entry.num_classes)
    head = {"model": args.model, "weights": args.weights, "layer": layer}
    if args.localisation:
        if not 1 <= args.n <= 5000:
            raise CLIError(f"expected --n between 1 and 5000, got {args.n}")
        methods = _methods(args.methods, ("gradcam", "gradcam_pp", "layercam", "guided_gradcam", "saliency"))
        x, masks, ds = metrics.shapes_for_model(args.model, args.n, seed=1)
        on_shapes = metrics.knows_the_shapes(names)
        began = time.perf_counter()
        targets = ds.labels if on_shapes else attr.predict(model, x, 1)[1][:, 0]
        res = metrics.localisation_of(model, x, masks, targets, methods, layer)
        return {**head, "n": args.n, "targets": "true class" if on_shapes else "predicted class", "localisation": res,
                "seconds": round(time.perf_counter() - began, 3)}
    side = entry.input_size[1]
    pixels, mask = _image(args.image, args.model)
    x = preprocess.for_model(args.model).image(pixels, side)
    probs, top = attr.predict(model, x, 5)
    if args.target is None:
        target = int(top[0, 0])
    else:
        try:
            target = int(args.target)
        except ValueError:
            raise CLIError(f"expected --target as a class index, got {args.target!r}") from None
    preds = [{"class": int(i), "name": names[int(i)], "probability": float(p)} for p, i in zip(probs[0], top[0])]
    if args.sanity:
        methods = _methods(args.methods, ("gradcam", "gradcam_pp", "layercam", "guided_gradcam", "saliency"))
        sanity = metrics.cascading_randomisation(model, x, torch.tensor([target]), methods, layer,
                                                 max_steps=args.steps)
        return {**head, "target": target, "predictions": preds, "sanity": {
            m: {"blocks": ["trained", *r.blocks], "spearman": r.spearman, "ssim": r.ssim, "passes": r.passes}
            for m, r in sanity.items()}}
    a = attr.attribute(model, x, _methods(args.method, ())[0], target, layer)
    small = F.adaptive_avg_pool2d(attr.normalise(a.maps.double())[:, None], min(_MAP_SIDE, side))[0, 0]
    out = {**head, "method": a.method, "target": target, "target_name": names[target], "predictions": preds,
           "map_shape": list(a.maps.shape[1:]), "peak": list(attr.peak_location(a.maps)[0]),
           "map": small.round(decimals=3)}
    if mask is not None:
        out["localisation"] = metrics.localisation(a.maps, torch.from_numpy(mask)[None])
    return out


def _add_epochs(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", metavar="RUN_ID", help="a stored run trained with --keep-epochs E")
    g.add_argument("--epochs-dir", type=Path, metavar="DIR", help="a folder of epoch_<k>.pt files (train --epochs-dir)")
    p.add_argument("--db", type=Path, help="run store database (default: data dir/runs.sqlite)")
    p.add_argument("--n", type=int, default=100, help="held-out shapes images scored per epoch (default 100)")
    p.add_argument("--layer", help="module path of the layer (default: the zoo entry's CAM layer)")
    p.add_argument("--method", default="gradcam", help="attribution method (default gradcam)")
    p.add_argument("--image-index", type=int, default=0, help="which scored image's maps to print (default 0)")


@command("cam-epochs", "CAM over training: localisation of Grad-CAM per kept epoch of a run (pointing game, energy "
                       "in the mask) and one image's map at each epoch.", _add_epochs)
def run_epochs(args: argparse.Namespace) -> dict:
    import torch
    import torch.nn.functional as F

    from vizcore.inspect import attribution as attr
    from vizcore.inspect import cam_epochs
    from vizcore.models import registry as zoo
    from vizcore.models.weights import checkpoint_meta

    run_id = None
    if args.run:
        from vizcore.lab.store import RunStore

        store = RunStore(args.db, readonly=True)
        rec = store.get(args.run)
        files = store.epoch_checkpoints(rec.id)
        if not files:
            raise CLIError(f"expected a run with kept epoch weights (train with --keep-epochs E), got run {rec.id} "
                           f"({rec.status}, keep_epochs {rec.config.keep_epochs}, no epoch files)")
        run_id, model, size = rec.id, rec.config.model, rec.config.image_size
    else:
        files = cam_epochs.epoch_files(args.epochs_dir)
        if not files:
            raise CLIError(f"expected a folder of epoch_<k>.pt files, got {str(args.epochs_dir)!r} (none there)")
        meta = checkpoint_meta(files[max(files)]) or {}
        if not meta.get("model"):
            raise CLIError(f"expected epoch files with metadata (a .json beside each), got none in {str(args.epochs_dir)!r}")
        model = str(meta["model"])
        size = int(meta.get("image_size") or zoo.get_entry(model).input_size[1])
        run_id = meta.get("run_id")
    method = _methods(args.method, ())[0]
    if not 1 <= args.n <= cam_epochs.MAX_IMAGES:
        raise CLIError(f"expected --n between 1 and {cam_epochs.MAX_IMAGES}, got {args.n}")
    res = cam_epochs.cam_over_training(files, model, size, n=args.n, layer=args.layer, method=method,
                                       image_index=args.image_index)
    names = (checkpoint_meta(files[max(files)]) or {}).get("classes") or []
    first = res.scores[0].localisation
    small = F.adaptive_avg_pool2d(attr.normalise(torch.from_numpy(res.maps))[:, None], min(_MAP_SIDE, size))[:, 0]
    return {"run_id": run_id, "model": model, "layer": res.layer, "method": res.method, "image_size": size,
            "n": args.n, "targets": res.targets, "epochs": list(res.epochs),
            "scores": [{"epoch": s.epoch, "val_acc": s.val_acc, "accuracy": s.accuracy,
                        "pointing": s.localisation.pointing, "energy": s.localisation.energy,
                        "empty": s.localisation.empty} for s in res.scores],
            "chance": {"pointing": first.pointing_chance, "energy": first.energy_chance},
            "image": {"index": res.image_index, "class": res.image_class,
                      "class_name": names[res.image_class] if res.image_class < len(names) else None,
                      "map_side": int(small.shape[-1]),
                      "maps": {str(e): m.round(decimals=3) for e, m in zip(res.epochs, small)}}}

