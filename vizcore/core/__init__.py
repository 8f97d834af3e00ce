"""Foundations: the data directory, the compute device, atomic file writes, argument checks.

Modules for use from outside (``__all__``):

* ``paths`` — where ConvScope keeps its files: one data directory for data sets, checkpoints and the run store
* ``device`` — the compute device: CUDA first, then Apple's MPS, else the CPU; its load
* ``io`` — atomic file writes: a temporary file in the same folder, renamed over the target
* ``checks`` — argument checks shared by every config, with "expected ..., got ..." messages
* ``budget`` — the memory budget: one limit on what a single request may allocate
* ``download`` — downloads with a per-request timeout, checked and written atomically
* ``hooks`` — forward hooks that are always removed, as one context manager
* ``lazy`` — a module imported where it is first used (torchvision in the training workers)
* ``meta`` — shape-only passes on the meta device without batch norm's slow decomposition
* ``uploads`` — a browser session's uploaded files: one folder per session, size caps, removed with it

The modules are imported on use, never here.

May import: the standard library, numpy and torch; nothing else of vizcore."""

__all__ = ["budget", "checks", "device", "download", "hooks", "io", "lazy", "meta", "paths", "uploads"]
