"""CLI: `linear-classifier` (a softmax classifier on pixels, its class templates) and `knn` (k-nearest neighbours
in pixel space against the default model's feature space)."""
from __future__ import annotations

import argparse

from vizcore.cli.registry import CLIError, command


def _add_linear(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", choices=["digits", "shapes"])
    p.add_argument("--train-size", type=int, default=1000, help="training images (digits: at most 1,257, shapes 1,000)")
    p.add_argument("--test-size", type=int, default=250)
    p.add_argument("--steps", type=int, default=200, help="full-batch Adam steps (at most 300)")
    p.add_argument("--lr", type=float, default=None, help="step size (default: 0.05 digits, 0.01 shapes)")
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--templates", action="store_true", help="include each class's weights (K×C×H×W numbers)")


@command("linear-classifier", "Train a linear softmax classifier on pixels (digits or shapes): accuracy and the "
         "class templates its weights form.", _add_linear)
def run_linear(args: argparse.Namespace) -> dict:
    from vizcore.inspect import first_classifiers as fc

    try:
        cfg = fc.LinearConfig(args.dataset, args.train_size, args.test_size, args.steps, args.lr,
                              args.weight_decay, args.seed)
    except ValueError as e:
        raise CLIError(str(e)) from e
    r = fc.train_linear(cfg)
    out = {"config": cfg, "classes": r.classes, "train_accuracy": r.train_accuracy,
           "test_accuracy": r.test_accuracy, "per_class_test_accuracy": r.per_class_test_accuracy,
           "final_objective": r.loss_curve[-1], "template_shape": list(r.templates.shape[1:])}
    if args.templates:
        out["templates"] = r.templates
        out["bias"] = r.bias
    return out


def _add_knn(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="shapes", choices=["shapes", "digits"],
                   help="shapes: pixels and the default model's features; digits: pixels only")
    p.add_argument("--train-size", type=int, default=1000, help="training images (digits: at most 1,257, shapes 2,000)")
    p.add_argument("--test-size", type=int, default=250)
    p.add_argument("--kmax", type=int, default=25, help="k = 1, 3, 5, ... up to this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pixels-only", action="store_true", help="skip the default model's feature space")


@command("knn", "k-nearest-neighbour accuracy against k: pixel space against the feature space of the default "
         "trained small CNN (shapes), or pixels only (digits).", _add_knn)
def run_knn(args: argparse.Namespace) -> dict:
    from vizcore.inspect import first_classifiers as fc

    cap = fc.KNN_MAX_IMAGES[args.dataset]
    if not 10 <= args.train_size <= cap or not 10 <= args.test_size <= 250:
        raise CLIError(f"expected 10..{cap} training and 10..250 test images, got {args.train_size} and "
                       f"{args.test_size}")
    if args.kmax < 1:
        raise CLIError(f"expected --kmax of at least 1, got {args.kmax}")
    split = fc.load_split(args.dataset, args.train_size, args.test_size, args.seed)
    ks = fc.default_ks(args.train_size, args.kmax)
    if args.pixels_only or args.dataset == "digits":
        curves = fc.knn_curves(split, ks)
        model_name = None
    else:
        from vizcore.lab import default_model
        from vizcore.models import registry, weights

        path = default_model.default_model()
        model = weights.load_trained(path)
        entry = registry.get_entry("small_cnn")
        curves = fc.knn_with_model(split, model, entry.mean, entry.std, ks)
        model_name = "small_cnn (default model, trained on the shapes)"
    return {"dataset": args.dataset, "train_size": args.train_size, "test_size": args.test_size,
            "chance": 1 / len(split.classes), "feature_model": model_name,
            "curves": [{"space": c.space, "dim": c.dim, "ks": c.ks, "accuracy": c.accuracy} for c in curves]}
