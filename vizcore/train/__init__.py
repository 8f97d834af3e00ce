"""Training: the config, LR schedules, tricks, budgets, the data a run uses, and the engine (a run with callbacks).

Modules for use from outside (``__all__``):

* ``config`` — the training config: one frozen dataclass describing a run, every trick a named field
* ``engine`` — a run: trains in the background, streams events, ends with a status
* ``loop`` — one optimizer step, evaluation, and the callback seam (``Callback``, ``TrainState``)
* ``schedule`` — learning-rate schedules in closed form and as torch schedulers
* ``tricks`` — zero-gamma, no bias decay, optimizers, label smoothing, distillation, a whitened stem
* ``data`` — the train/validation tensors a run uses, cached across runs that differ only in tricks
* ``preflight`` — checks before a run starts: device, precision, memory, disk, time budget
* ``memory`` — training memory estimated on the meta device
* ``disk`` — the disk a run's kept epoch weights take, and its budget
* ``timing`` — how long a run will take here, from the runs that finished
* ``playground`` — a small CNN trained one batch at a time on request: step, reset, and views of the live model
* ``adversarial`` — adversarial training (FGSM-RS, PGD) and the robust accuracy a run logs every epoch
* ``ssl`` — semi-supervised steps (pseudo-label, FixMatch, Noisy Student) on a labelled set and a pool
* ``ssl_thresholds`` — confidence thresholds: fixed, FlexMatch's class-wise, FreeMatch's self-adaptive
* ``ema`` — an exponential moving average of the weights (validated and saved in place of the live ones)

Internal: ``run_setup`` (a run's data, model, teacher, optimizer and precision, set up for the engine) and
``calibration`` (the short measurement timing falls back on).

The modules are imported on use, never here.

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.robust (the attack step of adversarial training)."""

__all__ = ["adversarial", "config", "data", "disk", "ema", "engine", "loop", "memory", "playground", "preflight", "schedule",
           "ssl", "ssl_thresholds", "timing", "tricks"]
