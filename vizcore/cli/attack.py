"""`attack`: adversarial examples (FGSM, PGD, same-size noise) on held-out images: accuracy before and after, an
accuracy-against-ε sweep with the gradient-masking check, the smallest ε that flips each image, an export.

``python -m vizcore attack --model small_cnn --weights trained --method pgd --eps 0.03 --n 200 --seed 0 --json``
"""
from __future__ import annotations

import argparse
from typing import Any

from vizcore.cli import weights_arg
from vizcore.cli.registry import CLIError, command

DATASETS = ("shapes", "digits", "folder")


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="small_cnn", help="zoo model name (default small_cnn)")
    p.add_argument("--weights", default="trained", help=f"{weights_arg.HELP} (default trained)")
    p.add_argument("--method", default="pgd", help="fgsm | pgd | noise (random signs of the same size; default pgd)")
    p.add_argument("--eps", default="8/255", help="radius in pixel units, e.g. 0.03 or 8/255; a comma list "
                                                  "(0,0.01,0.03) prints an accuracy sweep (default 8/255)")
    p.add_argument("--steps", type=int, default=10, help="PGD steps (default 10, at most 1000)")
    p.add_argument("--step-size", type=float, help="PGD step (default 2.5 eps / steps; one --eps only)")
    p.add_argument("--norm", default="linf", help="linf | l2 (default linf)")
    p.add_argument("--random-start", action="store_true", help="start from a random point of the ball (FGSM: FGSM-RS)")
    p.add_argument("--target", help="class index or name to push every image towards (default: untargeted)")
    p.add_argument("--min-eps", action="store_true", help="also search the smallest eps that flips each image")
    p.add_argument("--max-eps", type=float, help="where --min-eps stops (default 0.3 linf, 3.0 l2)")
    p.add_argument("--dataset", default="shapes", help=f"{' | '.join(DATASETS)}: held-out images (default shapes)")
    p.add_argument("--root", help="image folder for --dataset folder (root/<class>/<image>)")
    p.add_argument("--n", type=int, default=100, help="images drawn from the held-out split (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the images drawn, the random start and the noise")
    p.add_argument("--export", help="write clean, adversarial, labels, clean_pred, adversarial_pred to FILE.npz")


def parse_eps(text: str) -> list[float]:
    """'0.03' -> [0.03]; '0,1/255,8/255' -> [0.0, 0.0039..., 0.031...]. Range checks are the library's."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        try:
            num, _, den = part.partition("/")
            out.append(float(num) / float(den) if den else float(num))
        except (ValueError, ZeroDivisionError):
            raise CLIError(f"expected --eps as numbers or fractions (0.03, 8/255, or a comma list), got {text!r}") \
                from None
    return out


def _target(text: str | None, names: list[str]) -> int | None:
    if text is None:
        return None
    if text in names:
        return names.index(text)
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"expected --target as a class index or one of {', '.join(names[:12])}, got {text!r}") from None


def _images(args: argparse.Namespace, size: int):
    """(pixels (N, C, H, W) float in [0, 1], labels (N,), class names of the data set)."""
    from vizcore.inspect.top_patches import MAX_IMAGES, load_labelled

    if args.dataset not in DATASETS:
        raise CLIError(f"expected --dataset {', '.join(DATASETS)}, got {args.dataset!r}")
    if not 1 <= args.n <= MAX_IMAGES:
        raise CLIError(f"expected --n between 1 and {MAX_IMAGES}, got {args.n}")
    ds = load_labelled(args.dataset, args.n, size, seed=args.seed, root=args.root, per_class=False)
    return ds.images.float() / 255.0, ds.labels, list(ds.classes)


def _export(path: str, r: Any) -> None:
    import io

    import numpy as np

    from vizcore.core import io as vio

    buf = io.BytesIO()
    np.savez(buf, clean=r.clean.cpu().numpy().astype(np.float32), adversarial=r.adversarial.cpu().numpy().astype(
        np.float32), labels=r.labels.cpu().numpy(), clean_pred=r.clean_pred.cpu().numpy(),
        adversarial_pred=r.adversarial_pred.cpu().numpy())
    vio.write_bytes(path if path.endswith(".npz") else path + ".npz", buf.getvalue())


@command("attack", "Adversarial examples (FGSM, PGD, noise; Linf or L2; targeted or not): accuracy before and after, "
                   "an eps sweep with a gradient-masking check, the smallest eps per image (--min-eps).", _add)
def run(args: argparse.Namespace) -> dict:
    from vizcore.inspect.attribution import num_outputs
    from vizcore.models import registry as zoo
    from vizcore.models.weights import class_names
    from vizcore.robust import attacks, evaluate

    eps = parse_eps(args.eps)
    if args.export and len(eps) != 1:
        raise CLIError(f"expected one --eps with --export, got {len(eps)}")
    entry = zoo.get_entry(args.model)
    model, weights, label = weights_arg.load(args.model, args.weights)
    x, y, _ = _images(args, entry.input_size[1])
    n_out = num_outputs(model) or entry.num_classes
    target = _target(args.target, class_names(args.model, weights, n_out))
    head: dict[str, Any] = {"model": args.model, "weights": label, "method": args.method, "norm": args.norm,
                            "eps": eps[0] if len(eps) == 1 else eps, "steps": args.steps, "n": args.n,
                            "seed": args.seed, "dataset": args.dataset}
    if len(eps) > 1:
        if target is not None:
            raise CLIError("expected no --target with a list of --eps (the sweep is untargeted)")
        s = evaluate.sweep(model, args.model, x, y, eps, methods=(args.method,), norm=args.norm, steps=args.steps,
                           random_start=args.random_start, seed=args.seed)
        out = {**head, "clean_accuracy": s.clean_accuracy,
               "sweep": [{"eps": e, "adversarial_accuracy": a} for e, a in zip(s.eps, s.accuracy[args.method])],
               "gradient_masking": {"suspected": s.masking_suspected, "message": s.message,
                                    "probe_eps": s.probe_eps, "probe_accuracy": s.probe_accuracy}}
    else:
        r = attacks.attack(model, args.model, x, y, method=args.method, eps=eps[0], norm=args.norm,
                           steps=args.steps, step_size=args.step_size, random_start=args.random_start,
                           target=target, seed=args.seed)
        head["steps"] = r.steps
        out = {**head, "step_size": r.step_size, "clean_accuracy": r.clean_accuracy,
               "adversarial_accuracy": r.adversarial_accuracy}
        if r.targets is not None:
            out.update(target=target, target_rate=r.target_rate,
                       target_probability={"clean": float(r.target_prob_clean.mean()),  # type: ignore[union-attr]
                                           "adversarial": float(r.target_prob_adversarial.mean())})  # type: ignore[union-attr]
        if args.export:
            _export(args.export, r)
            out["export"] = args.export if args.export.endswith(".npz") else args.export + ".npz"
    if args.min_eps:
        m = evaluate.min_eps(model, args.model, x, y, method=args.method, norm=args.norm, steps=args.steps,
                             max_eps=args.max_eps, target=target, seed=args.seed)
        out["min_eps"] = m.summary()
    return out
