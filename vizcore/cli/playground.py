"""CLI: `playground` — the training playground's run without the page: N steps of the small CNN on the shapes,
the loss of every step and the held-out accuracy and confusion matrix at the end."""
from __future__ import annotations

import argparse

from vizcore.cli.registry import CLIError, command


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=100, help="optimizer steps, one mini-batch each (1 to 10,000)")
    p.add_argument("--width", type=int, default=8, help="channels of the first stage, 4 to 32")
    p.add_argument("--batch-size", type=int, default=32, help="images per step, 1 to 128")
    p.add_argument("--lr", type=float, default=0.05, help="SGD step size, (0, 1]")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--train-size", type=int, default=2000, help="training images of the shapes (at most 5,000)")
    p.add_argument("--test-size", type=int, default=200, help="held-out images (at most 1,000)")
    p.add_argument("--seed", type=int, default=0, help="weights and batch order")


@command("playground", "Train the playground's small CNN on the shapes for N steps: loss per step, held-out "
         "accuracy and confusion matrix.", _add)
def run(args: argparse.Namespace) -> dict:
    import time

    from vizcore.train import playground as pg

    if not 1 <= args.steps <= 10_000:
        raise CLIError(f"expected 1 to 10000 steps, got {args.steps}")
    try:
        cfg = pg.PlaygroundConfig(args.width, args.batch_size, args.lr, args.momentum, args.train_size,
                                  args.test_size, args.seed)
    except ValueError as e:
        raise CLIError(str(e)) from e
    play = pg.Playground(cfg)
    t0 = time.perf_counter()
    losses = play.step(args.steps)
    seconds = time.perf_counter() - t0
    ev = play.evaluate()
    return {"config": cfg, "steps": play.steps, "epochs": play.epoch, "losses": losses,
            "seconds_per_step": seconds / args.steps, "held_out_accuracy": ev.accuracy, "held_out_loss": ev.loss,
            "classes": play.classes, "confusion": ev.confusion}
