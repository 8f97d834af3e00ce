"""The Training Lab: the run store, the queue, the default model, experiments and their statistics, the Bag of
Tricks reference, and the live monitor.

Modules for use from outside (``__all__``):

* ``store`` — the run store (SQLite): runs that belong to the app, not to a browser tab; their records
* ``queue`` — the lab: the process-wide queue of training runs behind one ``submit()``
* ``executors`` — where runs train: the ``submit(RunSpec) -> handle`` seam, in-process; ``pool`` (local worker
  processes, the default) and ``ray_executor`` (a Ray cluster, optional) behind it
* ``monitor`` — watching a run: progress, ETA and curve data read from the store
* ``history`` — the runs that finished on this machine and the time estimates built on them
* ``experiment`` — a few configurations ("arms"), each repeated over seeds, and their comparison
* ``sweep`` — a grid of tricks × models × seeds planned, capped, estimated and laid out as one experiment
* ``results`` — an experiment's per-arm summaries over seeds, the A/B verdict, shape bias rows
* ``stats`` — intervals, significance tests and a plain verdict over seeds
* ``bands`` — mean curves over seeds with a t-interval band per epoch
* ``power`` — how many seeds an A/B needs, from the measured seed-to-seed spread
* ``reference`` — the Bag of Tricks paper's ImageNet tables as per-trick deltas
* ``default_model`` — the default trained model every page can use offline
* ``trained`` — which trained weights the app owns for a zoo model
* ``few_labels`` — the label-efficiency experiment: a recipe per method, the curve over seeds, Noisy Student rounds
* ``scaling`` — accuracy against cost of a compound-scaling experiment

Internal: ``records`` (the store's record types, importable from store as before), ``store_schema`` (the store
file's schema, opening and row-to-record conversion) and ``ray_hub`` (the Ray executor's hub actor, which imports
nothing, so that its process does not load torch).

The modules are imported on use, never here.

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch, vizcore.inspect, vizcore.train."""

__all__ = ["bands", "default_model", "executors", "experiment", "few_labels", "history", "monitor", "pool", "power",
           "queue", "ray_executor", "reference", "results", "scaling", "stats", "store", "sweep", "trained"]
